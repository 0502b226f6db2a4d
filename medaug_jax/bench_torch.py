"""PyTorch twins of our models, for the step-throughput benchmark only.

Each model is the same computation as its JAX counterpart:
  * ResNet-18 in the MedMNIST 28x28 form (medaug_jax/models.py): 3x3
    stride-1 stem, no max-pool, BasicBlocks of widths w, 2w, 4w, 8w, 1x1
    projection shortcuts, BatchNorm (momentum 0.1 = Flax 0.9, eps 1e-5),
    global average pool, a linear head; cross-entropy; SGD with momentum
    (medaug_jax/classifier.py).
  * The fully connected generators (medaug_jax/generators/{ae,cvae,cgan}.py)
    with the same widths, activations, losses and Adam settings.
Each train step starts, like ours, from the uint8 images held in memory:
gather the batch rows, normalise, forward, backward, update.

torch is imported lazily (inside the functions), so that the package never
needs it: it is only the optional `bench` extra.
"""
import numpy as np


def _torch():
  import torch  # pylint: disable=g-import-not-at-top
  return torch


def available():
  try:
    _torch()
    return True
  except Exception:  # pylint: disable=broad-except
    return False


def version():
  return _torch().__version__


# --------------------------------------------------------------------------- #
# Models
# --------------------------------------------------------------------------- #

def resnet18(num_classes, in_channels, width=64):
  torch = _torch()
  nn = torch.nn

  class BasicBlock(nn.Module):

    def __init__(self, cin, cout, stride):
      super().__init__()
      self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
      self.bn1 = nn.BatchNorm2d(cout, momentum=0.1, eps=1e-5)
      self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
      self.bn2 = nn.BatchNorm2d(cout, momentum=0.1, eps=1e-5)
      self.shortcut = None
      if stride != 1 or cin != cout:
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout, momentum=0.1, eps=1e-5))

    def forward(self, x):
      y = torch.relu(self.bn1(self.conv1(x)))
      y = self.bn2(self.conv2(y))
      r = x if self.shortcut is None else self.shortcut(x)
      return torch.relu(r + y)

  class ResNet(nn.Module):

    def __init__(self):
      super().__init__()
      self.stem = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
      self.bn = nn.BatchNorm2d(width, momentum=0.1, eps=1e-5)
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


def _mlp(features, in_dim, act):
  torch = _torch()
  layers = []
  for i, f in enumerate(features):
    layers.append(torch.nn.Linear(in_dim, f))
    if i + 1 < len(features):
      layers.append(act())
    in_dim = f
  return torch.nn.Sequential(*layers)


def _ProjectionD(hidden, in_dim, num_classes, act):  # pylint: disable=invalid-name
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


# --------------------------------------------------------------------------- #
# Train steps: (images uint8 tensor, labels tensor, idx tensor) -> metrics
# --------------------------------------------------------------------------- #

class ResNetTask:
  """ResNet-18 classifier: train step (SGD+momentum) and eval pass."""

  def __init__(self, num_classes, channels, width=64, lr=1e-3, momentum=0.9,
               channels_last=False, device='cpu'):
    torch = _torch()
    self.torch = torch
    self.model = resnet18(num_classes, channels, width)
    self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
    self.model = self.model.to(device=device, memory_format=self.memory_format)
    self.opt = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=momentum)
    self.loss = torch.nn.CrossEntropyLoss()

  def _input(self, images_u8):
    # uint8 NHWC -> float NCHW in [-1, 1], as classifier.normalize.
    x = images_u8.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return x.contiguous(memory_format=self.memory_format)

  def train_fn(self):
    torch, model, opt, loss_fn = self.torch, self.model, self.opt, self.loss

    def forward_loss(x, y):
      logits = model(x)
      loss = loss_fn(logits, y)
      return loss, (logits.argmax(-1) == y).float().mean()

    self._forward_loss = forward_loss

    def step(images, labels, idx):
      model.train()
      x, y = self._input(images[idx]), labels[idx]
      opt.zero_grad(set_to_none=True)
      loss, acc = self._forward_loss(x, y)
      loss.backward()
      opt.step()
      return loss, acc
    return step

  def compile_train(self):
    """torch.compile of the loss (AOTAutograd compiles its backward too);
    the optimizer step stays eager."""
    torch = self.torch
    step = self.train_fn()
    self._forward_loss = torch.compile(self._forward_loss)
    return step

  def eval_fn(self, compiled=False):
    torch, model = self.torch, self.model

    def forward(x):
      return torch.softmax(model(x), -1)
    fwd = torch.compile(forward) if compiled else forward

    def evaluate(images):
      model.eval()
      with torch.inference_mode():
        return fwd(self._input(images))
    return evaluate


class GeneratorTask:
  """One train step of the ae / cvae / cgan generator, as in our objectives."""

  def __init__(self, name, cfg, num_classes, image_shape, device='cpu'):
    torch = _torch()
    self.device = device
    self.torch = torch
    self.name = name
    self.cfg = cfg
    self.num_classes = num_classes
    self.dim = int(np.prod(image_shape))
    hidden = tuple(cfg.hidden)
    nn = torch.nn
    leaky = lambda: nn.LeakyReLU(0.2)
    if name == 'ae':
      self.enc = _mlp(hidden + (cfg.latent,), self.dim, nn.ReLU)
      self.dec = _mlp(tuple(reversed(hidden)) + (self.dim,), cfg.latent, nn.ReLU)
      self.params = list(self.enc.parameters()) + list(self.dec.parameters())
      self.opt = torch.optim.Adam(self.params, lr=cfg.lr, betas=(cfg.b1, 0.999), eps=1e-8)
    elif name == 'cvae':
      self.enc = _mlp(hidden + (2 * cfg.latent,), self.dim + num_classes, nn.ReLU)
      self.dec = _mlp(tuple(reversed(hidden)) + (self.dim,), cfg.latent + num_classes, nn.ReLU)
      self.params = list(self.enc.parameters()) + list(self.dec.parameters())
      self.opt = torch.optim.Adam(self.params, lr=cfg.lr, betas=(cfg.b1, 0.999), eps=1e-8)
    elif name == 'cgan':
      self.g = _mlp(hidden + (self.dim,), cfg.latent + num_classes, leaky)
      self.d = _ProjectionD(tuple(reversed(hidden)), self.dim, num_classes, leaky)
      self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr, betas=(cfg.b1, 0.999))
      self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.lr, betas=(cfg.b1, 0.999))
    else:
      raise ValueError(name)
    for m in ('enc', 'dec', 'g', 'd'):
      if hasattr(self, m):
        getattr(self, m).to(device)

  def _inputs(self, images, labels, idx):
    torch = self.torch
    x = images[idx].reshape(len(idx), -1).float() / 255.0
    c = torch.nn.functional.one_hot(labels[idx].long(), self.num_classes).float()
    return x, c

  def _losses(self):
    """The forward losses of the step, as functions (what torch.compile gets;
    the backward pass and optimizer run outside them)."""
    torch = self.torch
    F = torch.nn.functional
    if self.name == 'ae':
      def f(x, c):
        out = torch.sigmoid(self.dec(torch.relu(self.enc(x))))
        return ((out - x) ** 2).mean(-1).mean()
    elif self.name == 'cvae':
      lat = self.cfg.latent

      def f(x, c):
        h = self.enc(torch.cat([x, c], -1))
        mean, logvar = h[:, :lat], h[:, lat:]
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        logits = self.dec(torch.cat([z, c], -1))
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction='none').sum(-1)
        kl = 0.5 * torch.sum(torch.exp(logvar) + mean ** 2 - 1.0 - logvar, -1)
        return (rec + kl).mean()
    else:
      lat = self.cfg.latent

      def f_d(x, c):
        fake = (torch.tanh(self.g(torch.cat([torch.randn(len(x), lat, device=x.device), c], -1))) + 1) / 2
        real_logit = self.d(2 * x - 1, c)
        fake_logit = self.d(2 * fake.detach() - 1, c)
        return (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
                + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))

      def f_g(x, c):
        fake = (torch.tanh(self.g(torch.cat([torch.randn(len(x), lat, device=x.device), c], -1))) + 1) / 2
        logit = self.d(2 * fake - 1, c)
        return F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
      return f_d, f_g
    return f

  def train_fn(self, compiled=False):
    torch = self.torch
    maybe = torch.compile if compiled else (lambda f: f)
    if self.name == 'cgan':
      f_d, f_g = (maybe(f) for f in self._losses())
      g_params = list(self.g.parameters())

      def step(images, labels, idx):
        x, c = self._inputs(images, labels, idx)
        self.opt_d.zero_grad(set_to_none=True)
        ld = f_d(x, c)
        ld.backward()
        self.opt_d.step()
        self.opt_g.zero_grad(set_to_none=True)
        lg = f_g(x, c)
        lg.backward(inputs=g_params)  # G's loss leaves no grads on D
        self.opt_g.step()
        return ld, lg
      return step
    f = maybe(self._losses())

    def step(images, labels, idx):
      x, c = self._inputs(images, labels, idx)
      self.opt.zero_grad(set_to_none=True)
      loss = f(x, c)
      loss.backward()
      self.opt.step()
      return loss
    return step
