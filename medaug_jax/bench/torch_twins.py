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
Each train step starts, like ours, from the uint8 images held in memory:
gather the batch rows, normalise, forward, backward, update.

torch (and numpy, which entry points import only after hostmem) is imported
lazily, inside the functions: the package never needs torch, it is only the
optional `bench` extra.
"""
import functools
import math


def _torch():
  import torch  # pylint: disable=g-import-not-at-top
  return torch


def available():
  try:
    _torch()
    return True
  except Exception:  # pylint: disable=broad-except
    return False


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


def load_flax_resnet(model, variables):
  """Copies the variables of our ResNet (resnet.resnet18(...).init(...):
  params and batch_stats) into its twin `model` of the same width."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  torch = _torch()
  nn = torch.nn
  at = lambda tree, path: functools.reduce(lambda t, k: t[k], path, tree)
  tensor = lambda a: torch.from_numpy(np.array(a, np.float32))
  copied = 0
  with torch.no_grad():
    for module, path in _flax_scopes(model):
      p = at(variables['params'], path)
      if isinstance(module, nn.Conv2d):
        module.weight.copy_(tensor(p['kernel']).permute(3, 2, 0, 1))  # HWIO -> OIHW
      elif isinstance(module, nn.BatchNorm2d):
        s = at(variables['batch_stats'], path)
        for dst, src in ((module.weight, p['scale']), (module.bias, p['bias']),
                         (module.running_mean, s['mean']), (module.running_var, s['var'])):
          dst.copy_(tensor(src))
      else:
        module.weight.copy_(tensor(p['kernel']).T)
        module.bias.copy_(tensor(p['bias']))
      copied += sum(v.size for v in p.values())
  total = sum(v.size for v in jax.tree.leaves(variables['params']))
  if copied != total:
    raise ValueError(f'copied {copied} of {total} parameters: the twin is not the Flax model')


class ResNetTask:
  """ResNet-18 classifier: train step (SGD+momentum) and eval pass."""

  def __init__(self, num_classes, channels, width=64, lr=1e-3, momentum=0.9, device='cpu'):
    torch = _torch()
    self.torch = torch
    self.model = resnet18(num_classes, channels, width).to(device)
    self.opt = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=momentum)

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
      logits = model(x)
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
      return torch.softmax(model(x), -1)
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


class _GeneratorTwin:
  """One train step of a generator objective. Subclasses define
    build(hidden) -> {name: torch module}
    losses() -> [(names of the modules it updates, loss(x, c) -> scalar)]
  and a step runs the losses in order, each with its own Adam (one for the
  autoencoders, D then G for the GAN, as TwoPlayer does)."""

  def __init__(self, cfg, num_classes, image_shape, device='cpu'):
    self.torch = _torch()
    self.cfg, self.num_classes = cfg, num_classes
    self.dim = math.prod(image_shape)
    self.nets = self.torch.nn.ModuleDict(self.build(tuple(cfg.hidden))).to(device)
    self._updates = []
    for names, loss in self.losses():
      params = [p for n in names for p in self.nets[n].parameters()]
      opt = self.torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.b1, 0.999), eps=1e-8)
      self._updates.append((loss, params, opt))

  def _inputs(self, images, labels, idx):
    torch = self.torch
    x = images[idx].reshape(len(idx), -1).float() / 255.0
    c = torch.nn.functional.one_hot(labels[idx].long(), self.num_classes).float()
    return x, c

  def train_fn(self, compiled=False):
    """step(images, labels, idx) -> the last loss. torch.compile, if
    compiled, gets the losses; backward passes and optimizers stay outside."""
    updates = [(self.torch.compile(loss) if compiled else loss, params, opt)
               for loss, params, opt in self._updates]

    def step(images, labels, idx):
      x, c = self._inputs(images, labels, idx)
      for loss_fn, params, opt in updates:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(x, c)
        loss.backward(inputs=params)  # G's loss leaves no grads on D
        opt.step()
      return loss
    return step


class AETwin(_GeneratorTwin):
  """generators/ae.py: MSE of the reconstruction."""

  def build(self, hidden):
    relu = self.torch.nn.ReLU
    return {'enc': _mlp(hidden + (self.cfg.latent,), self.dim, relu),
            'dec': _mlp(hidden[::-1] + (self.dim,), self.cfg.latent, relu)}

  def losses(self):
    torch, enc, dec = self.torch, self.nets['enc'], self.nets['dec']

    def loss(x, c):
      del c  # not conditional
      return ((torch.sigmoid(dec(torch.relu(enc(x)))) - x) ** 2).mean()
    return [(('enc', 'dec'), loss)]


class CVAETwin(_GeneratorTwin):
  """generators/cvae.py: the ELBO with a Bernoulli decoder."""

  def build(self, hidden):
    relu, lat, k = self.torch.nn.ReLU, self.cfg.latent, self.num_classes
    return {'enc': _mlp(hidden + (2 * lat,), self.dim + k, relu),
            'dec': _mlp(hidden[::-1] + (self.dim,), lat + k, relu)}

  def losses(self):
    torch, enc, dec, lat = self.torch, self.nets['enc'], self.nets['dec'], self.cfg.latent

    def loss(x, c):
      h = enc(torch.cat([x, c], -1))
      mean, logvar = h[:, :lat], h[:, lat:]
      z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
      rec = torch.nn.functional.binary_cross_entropy_with_logits(
          dec(torch.cat([z, c], -1)), x, reduction='none').sum(-1)
      kl = 0.5 * torch.sum(torch.exp(logvar) + mean ** 2 - 1.0 - logvar, -1)
      return (rec + kl).mean()
    return [(('enc', 'dec'), loss)]


class CGANTwin(_GeneratorTwin):
  """generators/cgan.py: non-saturating loss, projection discriminator."""

  def build(self, hidden):
    leaky = lambda: self.torch.nn.LeakyReLU(0.2)
    return {'g': _mlp(hidden + (self.dim,), self.cfg.latent + self.num_classes, leaky),
            'd': _projection_d(hidden[::-1], self.dim, self.num_classes, leaky)}

  def losses(self):
    torch, g, d, lat = self.torch, self.nets['g'], self.nets['d'], self.cfg.latent
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def fake(c):
      return (torch.tanh(g(torch.cat([torch.randn(len(c), lat, device=c.device), c], -1))) + 1) / 2

    def d_loss(x, c):
      real_logit, fake_logit = d(2 * x - 1, c), d(2 * fake(c).detach() - 1, c)
      return (bce(real_logit, torch.ones_like(real_logit))
              + bce(fake_logit, torch.zeros_like(fake_logit)))

    def g_loss(x, c):
      del x
      logit = d(2 * fake(c) - 1, c)
      return bce(logit, torch.ones_like(logit))
    return [(('d',), d_loss), (('g',), g_loss)]


def _projection_d(hidden, in_dim, num_classes, act):
  """cgan.Discriminator: D(x, y) = w.h(x) + <embed(y), h(x)>."""
  torch = _torch()

  class ProjectionD(torch.nn.Module):

    def __init__(self):
      super().__init__()
      self.body = _mlp(hidden, in_dim, act)
      self.act = act()
      self.embed = torch.nn.Linear(num_classes, hidden[-1], bias=False)
      self.out = torch.nn.Linear(hidden[-1], 1)

    def forward(self, x, c):
      h = self.act(self.body(x))
      return self.out(h)[:, 0] + (self.embed(c) * h).sum(-1)

  return ProjectionD()


# The generators (medaug_jax.generators.available()) that have a twin.
TWINS = {'ae': AETwin, 'cvae': CVAETwin, 'cgan': CGANTwin}


def generator_twin(name, cfg, num_classes, image_shape, device='cpu'):
  """The twin of generator `name` with config `cfg`; None where it has none."""
  twin = TWINS.get(name)
  return twin(cfg, num_classes, image_shape, device) if twin else None
