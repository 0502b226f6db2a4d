"""PyTorch twins of our models, for the step-throughput benchmark.

Each twin is the same computation as its JAX counterpart:
  * resnet18: the ResNet-18 in the MedMNIST 28x28 form
    (medaug_jax/models/resnet.py): 3x3 stride-1 stem, no max-pool,
    BasicBlocks of widths w, 2w, 4w, 8w, 3x3 convs with padding=1 and 1x1
    projection shortcuts with padding=0, BatchNorm (momentum 0.1 = Flax 0.9,
    eps 1e-5), global average pool, a linear head. ResNetTask trains it as
    medaug_jax/classifier.py does (cross-entropy, SGD with momentum), and
    load_flax_resnet gives it a Flax ResNet's weights (the equivalence test).
  * generator_twin(name, ...): one train step of generator `name`
    (medaug_jax/generators/<name>.py) with the same widths, activations,
    losses and Adam settings; None for a generator without a twin (TWINS).
    The convolutional ones lay out what Flax keeps NHWC as NCHW, and
    load_flax_layers gives a Flax network's weights to its twin (the
    equivalence tests; flax_layers lists them for a network, like
    diffusion's UNet, that is not one Sequential).
Each train step starts, like ours, from the uint8 images held in memory:
gather the batch rows, normalise, forward, backward, update.

torch (and numpy, which entry points import only after hostmem) is imported
lazily, inside the functions: the package never needs torch, it is only the
optional `bench` extra.
"""
import functools
import importlib.util
import math


def _torch():
  import torch  # pylint: disable=g-import-not-at-top
  return torch


def available():
  """Whether torch is installed. Not imported here: the benchmarks run it in a
  process of its own (bench/worker.py), and importing it would load its
  OpenMP runtime into ours before oneDNN's (ops/onednn.py)."""
  return importlib.util.find_spec('torch') is not None


def setup(threads, want_cuda=False):
  """On the PyTorch side (bench/worker.py): its thread count (0: torch's
  default) and device; returns (versions, device)."""
  torch = _torch()
  if threads:
    torch.set_num_threads(threads)
  device = 'cuda' if want_cuda and torch.cuda.is_available() else 'cpu'
  # str: torch's TorchVersion would import torch where it is unpickled (the
  # bench's parent), loading torch's OpenMP runtime before oneDNN's there.
  return {'torch': str(torch.__version__), 'torch_threads': torch.get_num_threads()}, device


# --------------------------------------------------------------------------- #
# ResNet-18
# --------------------------------------------------------------------------- #

def resnet18(num_classes, in_channels, width=64):
  torch = _torch()
  nn = torch.nn
  norm = lambda c: nn.BatchNorm2d(c, momentum=0.1, eps=1e-5)

  class BasicBlock(nn.Module):

    def __init__(self, cin, cout, stride):
      super().__init__()
      self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
      self.bn1 = norm(cout)
      self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
      self.bn2 = norm(cout)
      self.shortcut = None
      if stride != 1 or cin != cout:
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), norm(cout))

    def forward(self, x):
      y = torch.relu(self.bn1(self.conv1(x)))
      y = self.bn2(self.conv2(y))
      r = x if self.shortcut is None else self.shortcut(x)
      return torch.relu(r + y)

  class ResNet(nn.Module):

    def __init__(self):
      super().__init__()
      self.stem = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
      self.bn = norm(width)
      blocks, cin = [], width
      for i in range(4):
        for j in range(2):
          cout = width * 2 ** i
          blocks.append(BasicBlock(cin, cout, 2 if i > 0 and j == 0 else 1))
          cin = cout
      self.blocks = nn.Sequential(*blocks)
      self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
      x = torch.relu(self.bn(self.stem(x)))
      x = self.blocks(x)
      return self.fc(x.mean(dim=(2, 3)))

  return ResNet()


def _flax_scopes(model):
  """(twin module, path of its Flax counterpart) for every layer of `model`;
  Flax numbers submodules in creation order (resnet.py)."""
  norm = lambda *path: path[:-1] + (f'_MaskedBatchNorm_{path[-1]}', 'bn')
  yield model.stem, ('Conv_0',)
  yield model.bn, norm(0)
  for i, block in enumerate(model.blocks):
    b = f'BasicBlock_{i}'
    yield from ((block.conv1, (b, 'Conv_0')), (block.bn1, norm(b, 0)),
                (block.conv2, (b, 'Conv_1')), (block.bn2, norm(b, 1)))
    if block.shortcut is not None:
      yield from ((block.shortcut[0], (b, 'Conv_2')), (block.shortcut[1], norm(b, 2)))
  yield model.fc, ('Dense_0',)


def _copy_flax(module, p, hwc=None):
  """Copies the params `p` of one Flax layer into its twin layer `module`;
  returns how many. hwc: a Dense whose outputs Flax reshapes to (H, W, C),
  the twin (a Linear before an Unflatten) to (C, H, W)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  torch = _torch()
  nn = torch.nn
  tensor = lambda a: torch.from_numpy(np.array(a, np.float32))
  outputs = tensor  # a tensor whose last axis is the layer's outputs
  if hwc:
    outputs = lambda a: tensor(a).unflatten(-1, hwc).movedim(-1, -3).flatten(-3)
  if isinstance(module, nn.Conv2d):
    w = tensor(p['kernel']).permute(3, 2, 0, 1)  # HWIO -> OIHW
  elif isinstance(module, nn.Linear):
    # A one-head attention projection (DenseGeneral) is a Dense whose kernel
    # and bias have a unit heads axis.
    w = outputs(np.reshape(p['kernel'], (-1, p['kernel'].shape[-1]))).T
  elif isinstance(module, nn.Embedding):
    w = tensor(p['embedding'])
  else:  # BatchNorm, GroupNorm
    w = tensor(p['scale'])
  with torch.no_grad():
    module.weight.copy_(w)
    if 'bias' in p:
      module.bias.copy_(outputs(np.reshape(p['bias'], -1)))
  return sum(v.size for v in p.values())


def _check_copied(copied, params):
  import jax  # pylint: disable=g-import-not-at-top
  total = sum(v.size for v in jax.tree.leaves(params))
  if copied != total:
    raise ValueError(f'copied {copied} of {total} parameters: the twin is not the Flax model')


def load_flax_resnet(model, variables):
  """Copies the variables of our ResNet (resnet.resnet18(...).init(...):
  params and batch_stats) into its twin `model` of the same width."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  torch = _torch()
  at = lambda tree, path: functools.reduce(lambda t, k: t[k], path, tree)
  copied = 0
  for module, path in _flax_scopes(model):
    copied += _copy_flax(module, at(variables['params'], path))
    if isinstance(module, torch.nn.BatchNorm2d):
      s = at(variables['batch_stats'], path)
      with torch.no_grad():
        module.running_mean.copy_(torch.from_numpy(np.array(s['mean'], np.float32)))
        module.running_var.copy_(torch.from_numpy(np.array(s['var'], np.float32)))
  _check_copied(copied, variables['params'])


def load_flax_layers(model, layers):
  """Copies the params of Flax layers (dicts, in the order the network calls
  them) into the layers of `model` that hold parameters, in the order they
  were registered (the call order in our Sequentials)."""
  unflatten = _torch().nn.Unflatten
  modules = list(model.modules())
  targets = [(m, after) for m, after in zip(modules, modules[1:] + [None])
             if next(m.parameters(recurse=False), None) is not None]
  if len(targets) != len(layers):
    raise ValueError(f'{len(layers)} Flax layers for {len(targets)} torch layers')
  copied = 0
  for (module, after), p in zip(targets, layers):
    chw = after.unflattened_size if isinstance(after, unflatten) else None
    copied += _copy_flax(module, p, chw and (*chw[1:], chw[0]))
  _check_copied(copied, layers)


def flax_layers(model, variables, *args):
  """The params of the Flax layers of `model` in the order apply(variables,
  *args) calls them (the order load_flax_layers wants): for networks, like
  the UNet, whose layers are not one Sequential."""
  import flax.linen as fnn  # pylint: disable=g-import-not-at-top
  layers, seen = [], set()

  def record(next_fun, call_args, kwargs, context):
    path = context.module.path
    if path not in seen and context.method_name == '__call__':
      seen.add(path)
      own = {k: v for k, v in _params_at(variables['params'], path).items()
             if not isinstance(v, dict)}
      if own:  # a layer, not a module of modules
        layers.append(own)
    return next_fun(*call_args, **kwargs)

  with fnn.intercept_methods(record):
    model.apply(variables, *args)
  return layers


def _params_at(tree, path):
  """The params under `path`; {} for a module that has none."""
  for k in path:
    tree = tree.get(k, {}) if isinstance(tree, dict) else {}
  return tree


class ResNetTask:
  """ResNet-18 classifier: train step (SGD+momentum) and eval pass.

  dtype 'bfloat16' runs the model under autocast, PyTorch's form of our
  classifier.dtype='bfloat16': bfloat16 convolutions, float32 weights, batch
  norm statistics and loss.
  """

  def __init__(self, num_classes, channels, width=64, lr=1e-3, momentum=0.9, device='cpu',
               dtype='float32'):
    torch = _torch()
    self.torch = torch
    self.model = resnet18(num_classes, channels, width).to(device)
    self.opt = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=momentum)
    self.autocast = lambda: torch.autocast(torch.device(device).type, dtype=torch.bfloat16,
                                           enabled=dtype == 'bfloat16')

  @staticmethod
  def _input(images_u8):
    # uint8 NHWC -> float NCHW in [-1, 1], as classifier.normalize.
    return (images_u8.permute(0, 3, 1, 2).float() / 127.5 - 1.0).contiguous()

  def train_fn(self, compiled=False):
    """step(images, labels, idx) -> loss. torch.compile, if compiled, gets
    the forward and loss (AOTAutograd compiles their backward too); the
    optimizer step stays eager."""
    torch, model, opt = self.torch, self.model, self.opt

    def forward_loss(x, y):
      with self.autocast():
        logits = model(x).float()
      # The accuracy too, as our step reports it.
      return (torch.nn.functional.cross_entropy(logits, y),
              (logits.argmax(-1) == y).float().mean())
    forward_loss = torch.compile(forward_loss) if compiled else forward_loss

    def step(images, labels, idx):
      model.train()
      opt.zero_grad(set_to_none=True)
      loss, _ = forward_loss(self._input(images[idx]), labels[idx])
      loss.backward()
      opt.step()
      return loss
    return step

  def eval_fn(self, compiled=False):
    torch, model = self.torch, self.model

    def forward(x):
      with self.autocast():
        logits = model(x).float()
      return torch.softmax(logits, -1)
    forward = torch.compile(forward) if compiled else forward

    def evaluate(images):
      model.eval()
      with torch.inference_mode():
        return forward(self._input(images))
    return evaluate


# --------------------------------------------------------------------------- #
# Generators
# --------------------------------------------------------------------------- #

def _mlp(features, in_dim, act):
  """generators.base.MLP: Dense layers with `act` between them."""
  torch = _torch()
  layers = []
  for i, f in enumerate(features):
    layers.append(torch.nn.Linear(in_dim, f))
    if i + 1 < len(features):
      layers.append(act())
    in_dim = f
  return torch.nn.Sequential(*layers)


def _up(cin, cout):
  """base.UpConv: nearest upsampling by 2, then a 3x3 convolution padded by 1
  (7 -> 14); torch's nearest upsampling repeats each pixel as
  jax.image.resize does."""
  nn = _torch().nn
  return nn.Sequential(nn.Upsample(scale_factor=2, mode='nearest'), nn.Conv2d(cin, cout, 3, padding=1))


def _upsampler(in_dim, widths, norm):
  """Linear -> 7x7 x widths[0] -> an upsampling convolution (_up) to each
  further width (7 -> 14 -> 28), every stage followed by ReLU, and by
  GroupNorm(gcd(8, channels)) first with `norm` (dcgan.Generator)."""
  nn = _torch().nn
  act = lambda c: ([nn.GroupNorm(math.gcd(8, c), c, eps=1e-6)] if norm else []) + [nn.ReLU()]
  layers = [nn.Linear(in_dim, 7 * 7 * widths[0]), nn.Unflatten(1, (widths[0], 7, 7)),
            *act(widths[0])]
  for cin, cout in zip(widths, widths[1:]):
    layers += [_up(cin, cout), *act(cout)]
  return nn.Sequential(*layers)


class _GeneratorTwin:
  """One train step of a generator objective. Subclasses define
    build() -> {name: torch module}
    losses() -> [(names of the modules it updates, loss(x, c) -> scalar)]
  and a step runs the losses in order, with one Adam per set of modules (one
  for the autoencoders, D's then G's for the GANs, as TwoPlayer does), then
  after_step(). x: pixels in [0, 1], flat (FLAT) or NCHW. A config with
  dtype 'bfloat16' runs the losses under autocast, as ResNetTask does."""
  FLAT = True

  def __init__(self, cfg, num_classes, image_shape, device='cpu'):
    self.torch = _torch()
    self.autocast = lambda: self.torch.autocast(
        self.torch.device(device).type, dtype=self.torch.bfloat16,
        enabled=cfg.get('dtype', 'float32') == 'bfloat16')
    self.cfg, self.num_classes = cfg, num_classes
    self.image_shape, self.dim = tuple(image_shape), math.prod(image_shape)
    self.nets = self.torch.nn.ModuleDict(self.build()).to(device)
    self._updates, opts = [], {}
    for names, loss in self.losses():
      params = [p for n in names for p in self.nets[n].parameters()]
      if names not in opts:
        opts[names] = self.torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.b1, 0.999), eps=1e-8)
      self._updates.append((loss, params, opts[names]))

  def _inputs(self, images, labels, idx):
    torch = self.torch
    x = images[idx]
    x = x.reshape(len(idx), -1) if self.FLAT else x.permute(0, 3, 1, 2).contiguous()
    c = torch.nn.functional.one_hot(labels[idx].long(), self.num_classes).float()
    return x.float() / 255.0, c

  def after_step(self):
    pass

  def train_fn(self, compiled=False):
    """step(images, labels, idx) -> the last loss. torch.compile, if
    compiled, gets the losses; backward passes, optimizers and after_step
    stay outside."""
    updates = [(self.torch.compile(loss) if compiled else loss, params, opt)
               for loss, params, opt in self._updates]

    def step(images, labels, idx):
      x, c = self._inputs(images, labels, idx)
      for loss_fn, params, opt in updates:
        opt.zero_grad(set_to_none=True)
        with self.autocast():
          loss = loss_fn(x, c)
        loss.backward(inputs=params)  # G's loss leaves no grads on D
        opt.step()
      self.after_step()
      return loss
    return step


class AETwin(_GeneratorTwin):
  """generators/ae.py: MSE of the reconstruction."""

  def build(self):
    relu, hidden = self.torch.nn.ReLU, tuple(self.cfg.hidden)
    return {'enc': _mlp(hidden + (self.cfg.latent,), self.dim, relu),
            'dec': _mlp(hidden[::-1] + (self.dim,), self.cfg.latent, relu)}

  def losses(self):
    torch, enc, dec = self.torch, self.nets['enc'], self.nets['dec']

    def loss(x, c):
      del c  # not conditional
      return ((torch.sigmoid(dec(torch.relu(enc(x)))) - x) ** 2).mean()
    return [(('enc', 'dec'), loss)]


class CVAETwin(_GeneratorTwin):
  """generators/cvae.py: the ELBO with a Bernoulli decoder. Subclasses
  change encode(x, c) -> [mean, logvar] and the decoder nets['dec']."""

  def build(self):
    relu, lat, k = self.torch.nn.ReLU, self.cfg.latent, self.num_classes
    hidden = tuple(self.cfg.hidden)
    return {'enc': _mlp(hidden + (2 * lat,), self.dim + k, relu),
            'dec': _mlp(hidden[::-1] + (self.dim,), lat + k, relu)}

  def encode(self, x, c):
    return self.nets['enc'](self.torch.cat([x, c], -1))

  def losses(self):
    torch, dec = self.torch, self.nets['dec']

    def loss(x, c):
      mean, logvar = self.encode(x, c).chunk(2, -1)
      z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
      rec = torch.nn.functional.binary_cross_entropy_with_logits(
          dec(torch.cat([z, c], -1)), x, reduction='none').flatten(1).sum(-1)
      kl = 0.5 * torch.sum(torch.exp(logvar) + mean ** 2 - 1.0 - logvar, -1)
      return (rec + kl).mean()
    return [(tuple(self.nets), loss)]


class ConvCVAETwin(CVAETwin):
  """generators/cvae_conv.py: two 4x4 stride-2 convolutions (28 -> 14 -> 7),
  [h, onehot(y)] -> mean and log-variance; [z, onehot(y)] -> 7x7 -> two 4x4
  upsampling convolutions -> pixel logits."""
  FLAT = False

  def build(self):
    nn, w, lat, k = self.torch.nn, self.cfg.width, self.cfg.latent, self.num_classes
    return {'enc': nn.Sequential(nn.Conv2d(self.image_shape[-1], w, 4, 2, 1), nn.ReLU(),
                                 nn.Conv2d(w, 2 * w, 4, 2, 1), nn.ReLU(), nn.Flatten()),
            'to_latent': nn.Linear(7 * 7 * 2 * w + k, 2 * lat),
            'dec': nn.Sequential(_upsampler(lat + k, (2 * w, w), norm=False),
                                 _up(w, self.image_shape[-1]))}

  def encode(self, x, c):
    return self.nets['to_latent'](self.torch.cat([self.nets['enc'](x), c], -1))


class CGANTwin(_GeneratorTwin):
  """generators/cgan.py: non-saturating loss, projection discriminator, one
  D then one G update. The loss ('ns', 'hinge'), cfg.d_steps D updates,
  DiffAugment before D and an EMA of G come from the config where it has
  them (DCGANTwin)."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.ema = float(self.cfg.get('ema', 0.0))
    # Sampling's copy of G, e <- ema * e + (1 - ema) * p after every step.
    self.g_ema = [p.detach().clone() for p in self.nets['g'].parameters()] if self.ema else []

  def after_step(self):
    with self.torch.no_grad():
      for e, p in zip(self.g_ema, self.nets['g'].parameters()):
        e.lerp_(p, 1.0 - self.ema)

  def build(self):
    leaky, hidden = lambda: self.torch.nn.LeakyReLU(0.2), tuple(self.cfg.hidden)
    body = self.torch.nn.Sequential(_mlp(hidden[::-1], self.dim, leaky), leaky())
    return {'g': self.torch.nn.Sequential(
                _mlp(hidden + (self.dim,), self.cfg.latent + self.num_classes, leaky),
                self.torch.nn.Tanh()),
            'd': _projection_d(body, hidden[0], self.num_classes)}

  def losses(self):
    torch, g, d, cfg = self.torch, self.nets['g'], self.nets['d'], self.cfg
    relu, softplus = torch.nn.functional.relu, torch.nn.functional.softplus
    hinge = cfg.get('loss', 'ns') == 'hinge'
    augment = _diff_augment(cfg.get('diffaugment', ''))

    def fake(c):
      return (g(torch.cat([torch.randn(len(c), cfg.latent, device=c.device), c], -1)) + 1) / 2

    def score(images, c):  # D on images in [-1, 1]
      return d(augment(2 * images - 1), c)

    def d_loss(x, c):
      real, fake_score = score(x, c), score(fake(c).detach(), c)
      if hinge:
        return (relu(1 - real) + relu(1 + fake_score)).mean()
      return (softplus(-real) + softplus(fake_score)).mean()  # = BCE(real, 1) + BCE(fake, 0)

    def g_loss(x, c):
      del x
      s = score(fake(c), c)
      return (-s if hinge else softplus(-s)).mean()
    return [(('d',), d_loss)] * cfg.get('d_steps', 1) + [(('g',), g_loss)]


class DCGANTwin(CGANTwin):
  """generators/dcgan.py with its default loss (hinge) or 'ns': G = [z,
  onehot(y)] -> 7x7x4w -> upsampling convolutions to 2w, w (GroupNorm, ReLU)
  -> 3x3 convolution -> tanh; D = three convolutions with LeakyReLU, a global
  sum pool and the projection head, spectrally normalised (1 power iteration
  per call: D's train mode); DiffAugment before D, cfg.d_steps D updates, an
  EMA of G (CGANTwin). Not twinned: 'wgan-gp' and the ACGAN head."""
  FLAT = False

  def build(self):
    nn, cfg, k, ch = self.torch.nn, self.cfg, self.num_classes, self.image_shape[-1]
    if cfg.loss not in ('hinge', 'ns') or cfg.aux_weight > 0:
      raise NotImplementedError('the dcgan twin has the hinge and ns losses, no ACGAN head')
    w, leaky = cfg.width, lambda: nn.LeakyReLU(0.2)
    sn = nn.utils.parametrizations.spectral_norm if cfg.spectral_norm else (lambda m: m)
    body = nn.Sequential(sn(nn.Conv2d(ch, w, 3, 1, 1)), leaky(),
                         sn(nn.Conv2d(w, 2 * w, 4, 2, 1)), leaky(),
                         sn(nn.Conv2d(2 * w, 4 * w, 4, 2, 1)), leaky())
    return {'g': nn.Sequential(_upsampler(cfg.latent + k, (4 * w, 2 * w, w), norm=True),
                               nn.Conv2d(w, ch, 3, 1, 1), nn.Tanh()),
            'd': _projection_d(body, 4 * w, k, sn)}


def _timestep_embedding(t, dim):
  """diffusion.timestep_embedding: sin and cos of 1000 t at geometric frequencies."""
  torch = _torch()
  half = dim // 2
  freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32,
                                                       device=t.device) / half)
  args = 1000.0 * t[:, None] * freqs[None]
  return torch.cat([torch.sin(args), torch.cos(args)], -1)


def _zero(module):
  """Flax's zero-initialised output layers (blocks start as the identity)."""
  torch = _torch()
  with torch.no_grad():
    module.weight.zero_()
    module.bias.zero_()
  return module


def _res_block(cin, cout, groups, emb_dim):
  """diffusion.ResBlock, its layers registered in Flax's call order (the
  norm before its conv; the 1x1 shortcut last)."""
  torch = _torch()
  nn, silu = torch.nn, torch.nn.functional.silu
  norm = lambda c: nn.GroupNorm(groups, c, eps=1e-6)  # Flax's epsilon

  class ResBlock(nn.Module):

    def __init__(self):
      super().__init__()
      self.norm1, self.conv1 = norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
      self.emb = nn.Linear(emb_dim, cout)
      self.norm2, self.conv2 = norm(cout), _zero(nn.Conv2d(cout, cout, 3, padding=1))
      self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
      h = self.conv1(silu(self.norm1(x))) + self.emb(silu(emb))[:, :, None, None]
      return self.skip(x) + self.conv2(silu(self.norm2(h)))

  return ResBlock()


def _attention(ch, groups):
  """diffusion.Attention: one head over the H*W pixels (row-major, as Flax's
  NHWC reshape orders them), scaled by 1/sqrt(ch), residual."""
  torch = _torch()
  nn = torch.nn

  class Attention(nn.Module):

    def __init__(self):
      super().__init__()
      self.norm = nn.GroupNorm(groups, ch, eps=1e-6)
      self.q, self.k, self.v = (nn.Linear(ch, ch) for _ in range(3))
      self.out = _zero(nn.Linear(ch, ch))

    def forward(self, x):
      h = self.norm(x).flatten(2).transpose(1, 2)  # [B, H*W, C]
      h = torch.nn.functional.scaled_dot_product_attention(self.q(h), self.k(h), self.v(h))
      return x + self.out(h).transpose(1, 2).reshape(x.shape)

  return Attention()


def _down(ch):
  """Flax's 'SAME' 3x3 stride-2 convolution pads 28 (14) by 0 before and 1
  after; torch's padding=1 would pad 1 on both sides and shift the grid."""
  nn = _torch().nn
  return nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(ch, ch, 3, 2))


def unet(width, channel_mult, num_blocks, attention, groups, num_classes, channels):
  """diffusion.UNet on NCHW images: v(x, t, y), y = num_classes the null
  class. Its layers are registered in the order Flax calls them, so that
  load_flax_layers(unet, flax_layers(...)) gives it a Flax UNet's weights."""
  torch = _torch()
  nn, silu = torch.nn, torch.nn.functional.silu
  emb_dim, levels = 4 * width, len(channel_mult)

  class UNet(nn.Module):

    def __init__(self):
      super().__init__()
      self.time = nn.Sequential(nn.Linear(2 * (width // 2), emb_dim), nn.SiLU(),
                                nn.Linear(emb_dim, emb_dim))
      self.embed = nn.Embedding(num_classes + 1, emb_dim)
      self.stem = nn.Conv2d(channels, width, 3, padding=1)
      # The rest as (op, module) in call order: 'emb' modules also take the
      # embedding; 'push' saves a skip, 'pop' concatenates one.
      self.ops, self.body = [], nn.ModuleList()
      ch, size, skips = width, 28, []

      def add(op, module=None):
        self.ops.append(op)
        self.body.append(module or nn.Identity())

      def blocks(cin, cout):
        for i in range(num_blocks):
          add('emb', _res_block(cin if i == 0 else cout, cout, groups, emb_dim))
          if attention and size <= 7:
            add('x', _attention(cout, groups))

      for i, mult in enumerate(channel_mult):
        blocks(ch, width * mult)
        ch = width * mult
        add('push')
        skips.append(ch)
        if i + 1 < levels:
          add('x', _down(ch))
          size = -(-size // 2)
      add('emb', _res_block(ch, ch, groups, emb_dim))
      if attention and size <= 7:
        add('x', _attention(ch, groups))
      add('emb', _res_block(ch, ch, groups, emb_dim))
      for i in reversed(range(levels)):
        add('pop')
        blocks(ch + skips.pop(), width * channel_mult[i])
        ch = width * channel_mult[i]
        if i:
          add('x', _up(ch, ch))
          size *= 2
      self.out = nn.Sequential(nn.GroupNorm(groups, ch, eps=1e-6), nn.SiLU(),
                               _zero(nn.Conv2d(ch, channels, 3, padding=1)))

    def forward(self, x, t, y):
      emb = self.time(_timestep_embedding(t, width)) + self.embed(y)
      h, skips = self.stem(x), []
      for op, module in zip(self.ops, self.body):
        if op == 'emb':
          h = module(h, emb)
        elif op == 'x':
          h = module(h)
        elif op == 'push':
          skips.append(h)
        else:
          h = torch.cat([h, skips.pop()], 1)
      return self.out(h)

  return UNet()


class DiffusionTwin(_GeneratorTwin):
  """generators/diffusion.py: flow matching (the MSE of the UNet's velocity
  on the straight noise-image path), labels replaced by the null class at
  the label_dropout rate, and the EMA of the weights with its warm-up."""
  FLAT = False

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.ema, self.step = float(self.cfg.ema), 0
    self.params = list(self.nets['unet'].parameters())
    self.averaged = [p.detach().clone() for p in self.params] if self.ema else []

  def build(self):
    cfg = self.cfg
    return {'unet': unet(cfg.width, tuple(cfg.channel_mult), cfg.num_blocks,
                         bool(cfg.attention), cfg.norm_groups, self.num_classes,
                         self.image_shape[-1])}

  def losses(self):
    torch, net, k = self.torch, self.nets['unet'], self.num_classes
    dropout = self.cfg.label_dropout

    def loss(x, c):
      x0 = 2.0 * x - 1.0
      noise = torch.randn_like(x0)
      t = torch.rand(len(x0), device=x0.device)
      drop = torch.rand(len(x0), device=x0.device) < dropout
      y = torch.where(drop, torch.full_like(t, k, dtype=torch.long), c.argmax(-1))
      tb = t[:, None, None, None]
      v = net((1.0 - tb) * x0 + tb * noise, t, y)
      return ((v - (noise - x0)) ** 2).mean()
    return [(('unet',), loss)]

  def after_step(self):
    # Decay min(ema, (1 + s) / (10 + s)) at the step s before this update.
    decay = min(self.ema, (1.0 + self.step) / (10.0 + self.step))
    self.step += 1
    with self.torch.no_grad():
      for e, p in zip(self.averaged, self.params):
        e.lerp_(p, 1.0 - decay)


def _projection_d(body, features, num_classes, wrap=lambda m: m):
  """cgan/dcgan.Discriminator: D(x, y) = w.h(x) + <embed(y), h(x)>, with h the
  output of `body`, summed over H and W for a convolutional one; `wrap`
  (spectral norm) on both linear layers."""
  torch = _torch()

  class ProjectionD(torch.nn.Module):

    def __init__(self):
      super().__init__()
      self.body = body
      self.out = wrap(torch.nn.Linear(features, 1))
      self.embed = wrap(torch.nn.Linear(num_classes, features, bias=False))

    def forward(self, x, c):
      h = self.body(x)
      h = h.sum((2, 3)) if h.ndim == 4 else h
      return self.out(h)[:, 0] + (self.embed(c) * h).sum(-1)

  return ProjectionD()


# --------------------------------------------------------------------------- #
# DiffAugment (medaug_jax/ops/diffaugment.py) on NCHW images in [-1, 1]
# --------------------------------------------------------------------------- #

def _color(x):
  rand = lambda: _torch().rand(len(x), 1, 1, 1, dtype=x.dtype, device=x.device)
  x = x + rand() - 0.5
  mean = x.mean(1, keepdim=True)
  x = (x - mean) * (2 * rand()) + mean
  mean = x.mean((1, 2, 3), keepdim=True)
  return (x - mean) * (rand() + 0.5) + mean


def _grid(x, low, high):
  """Per image a random (row, column) offset in [low, high) and the
  (rows, columns) index grids, [1, H, 1] and [1, 1, W]."""
  torch = _torch()
  n, _, h, w = x.shape
  offset = [torch.randint(lo, hi, (n, 1, 1), device=x.device) for lo, hi in zip(low, high)]
  return offset, (torch.arange(h, device=x.device)[None, :, None],
                  torch.arange(w, device=x.device)[None, None, :])


def _translation(x, ratio=0.125):
  """Shift by up to ratio of the size, zeros shifted in."""
  torch = _torch()
  _, _, h, w = x.shape
  sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  (dy, dx), (rows, cols) = _grid(x, (-sh, -sw), (sh + 1, sw + 1))
  padded = torch.nn.functional.pad(x, (sw, sw, sh, sh))
  batch = torch.arange(len(x), device=x.device)[:, None, None]
  # Advanced indices around the channel slice come first: [N, H, W, C].
  return padded[batch, :, rows + sh - dy, cols + sw - dx].permute(0, 3, 1, 2)


def _cutout(x, ratio=0.5):
  """Zeroes a square of ratio of the size whose corner may hang over the edge."""
  _, _, h, w = x.shape
  ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  (top, left), (rows, cols) = _grid(x, (-(ch // 2), -(cw // 2)), (h - ch // 2, w - cw // 2))
  inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
  return x * (~inside)[:, None].to(x.dtype)


DIFF_AUGMENT = {'color': _color, 'translation': _translation, 'cutout': _cutout}


def _diff_augment(policy):
  """x -> x with the DiffAugment policy ('color,translation,cutout'; '': none)."""
  from medaug_jax.ops import diffaugment  # pylint: disable=g-import-not-at-top
  fns = [DIFF_AUGMENT[name] for name in diffaugment.parse(policy)]

  def augment(x):
    for f in fns:
      x = f(x)
    return x
  return augment


# The generators (medaug_jax.generators.available()) that have a twin.
TWINS = {'ae': AETwin, 'cvae': CVAETwin, 'cgan': CGANTwin, 'dcgan': DCGANTwin,
         'cvae_conv': ConvCVAETwin, 'diffusion': DiffusionTwin}


def generator_twin(name, cfg, num_classes, image_shape, device='cpu'):
  """The twin of generator `name` with config `cfg`; None where it has none."""
  twin = TWINS.get(name)
  return twin(cfg, num_classes, image_shape, device) if twin else None
