// oneDNN primitives as XLA:CPU custom calls (FFI), NHWC, float32 or
// bfloat16 (which CPUs with AMX or AVX512-BF16 run several times faster):
// - direct convolutions (HWIO kernel): forward, input and kernel gradient;
// - inference convolutions with a bias, a residual and a ReLU in one pass;
// - training-mode batch normalisation: forward and backward, its activation
//   float32 or bfloat16 (statistics and parameters float32);
// - group normalisation with its activation (none, ReLU, swish), its
//   activation float32 or bfloat16 (arithmetic float32), forward and
//   backward: hand-written, as oneDNN 3.2 (PyPI's newest CPU-only build) has
//   no group norm primitive.
//
// XLA:CPU's own convolutions and our matmul rewrites of them (Winograd,
// im2col) pay memory passes that oneDNN's JIT kernels do not; these are the
// kernels torch uses on the same CPU (BENCHMARKS.md, "oneDNN convolutions").
// XLA:CPU hands batch statistics to a YNNPACK reduction whose (masked) input
// it first writes out whole; oneDNN's batch norm reads the activation as it
// is, 3.3x less thread time in the ResNet step (BENCHMARKS.md, "oneDNN's
// batch norm in the ResNet train step").
// medaug_jax/ops/onednn.py compiles this file on first use.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using tag = dnnl::memory::format_tag;
using Args = std::unordered_map<int, memory>;

namespace {

const auto kF32 = memory::data_type::f32;

// The element types of the activations (and the convolutions' kernels).
bool DnnlType(ffi::DataType t, memory::data_type* out) {
  if (t == ffi::DataType::F32) *out = kF32;
  else if (t == ffi::DataType::BF16) *out = memory::data_type::bf16;
  else return false;
  return true;
}

dnnl::engine& Engine() {
  static dnnl::engine* e = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *e;
}

std::string Key(std::initializer_list<int64_t> values) {
  std::string k;
  for (int64_t v : values) k += std::to_string(v) + ",";
  return k;
}

// Primitives are made once per shape (oneDNN JIT-compiles each) and kept.
template <typename T>
T* Cached(const std::string& key, const std::function<std::unique_ptr<T>()>& make) {
  static std::mutex mu;
  static auto* cache = new std::unordered_map<std::string, std::unique_ptr<T>>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(key);
  if (it != cache->end()) return it->second.get();
  T* out = make().release();
  (*cache)[key].reset(out);
  return out;
}

dnnl::primitive_attr UserScratchpad() {
  // Each call brings its own scratchpad: XLA may run two primitives at once
  // (an input and a kernel gradient), and the library's shared one is not
  // safe for that.
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

memory Scratch(const dnnl::primitive_desc_base& pd) {
  thread_local std::vector<char> buf;
  const memory::desc md = pd.scratchpad_desc();
  if (buf.size() < md.get_size()) buf.resize(md.get_size());
  return memory(md, Engine(), buf.data());
}

memory Wrap(const memory::desc& md, const void* p) {
  return memory(md, Engine(), const_cast<void*>(p));
}

// m in the layout a primitive asked for: m itself, or a reordered copy.
memory AsLayout(dnnl::stream& s, memory m, const memory::desc& want) {
  if (m.get_desc() == want) return m;
  memory out(want, Engine());
  dnnl::reorder(m, out).execute(s, m, out);
  return out;
}

// Runs body(stream) and waits for it, oneDNN's exceptions as an FFI error.
ffi::Error Run(const char* what, const std::function<void(dnnl::stream&)>& body) {
  try {
    dnnl::stream s(Engine());
    body(s);
    s.wait();
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal(std::string("oneDNN ") + what + " failed: " + e.what());
  }
  return ffi::Error::Success();
}

// ---- Convolutions ----

// One convolution's shapes: input NHWC, output channels, kernel, output map,
// strides and padding (top, bottom, left, right).
struct Geometry {
  int64_t n, h, w, c, o, kh, kw, oh, ow, sh, sw, pt, pb, pl, pr;
  memory::data_type dt = kF32;
};

struct Conv {
  memory::desc src, wei, dst;  // the caller's plain layouts
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd;
  dnnl::convolution_backward_weights::primitive_desc bwd_w_pd;
  dnnl::primitive fwd, bwd_data, bwd_w;
};

std::unique_ptr<Conv> MakeConv(const Geometry& g) {
  auto c = std::make_unique<Conv>();
  // Activations stay in XLA's NHWC: reordering them would cost the memory
  // passes this file exists to avoid. The kernel is small, so oneDNN picks
  // its blocked layout ('any') and each call reorders it.
  c->src = memory::desc({g.n, g.c, g.h, g.w}, g.dt, tag::nhwc);
  c->wei = memory::desc({g.o, g.c, g.kh, g.kw}, g.dt, tag::hwio);
  c->dst = memory::desc({g.n, g.o, g.oh, g.ow}, g.dt, tag::nhwc);
  const memory::desc wei_any({g.o, g.c, g.kh, g.kw}, g.dt, tag::any);
  const memory::dims strides = {g.sh, g.sw}, dil = {0, 0};
  const memory::dims pad_l = {g.pt, g.pl}, pad_r = {g.pb, g.pr};
  const auto alg = dnnl::algorithm::convolution_direct;
  const auto attr = UserScratchpad();
  c->fwd_pd = dnnl::convolution_forward::primitive_desc(
      Engine(), dnnl::prop_kind::forward_training, alg, c->src, wei_any, c->dst, strides, dil,
      pad_l, pad_r, attr);
  c->bwd_data_pd = dnnl::convolution_backward_data::primitive_desc(
      Engine(), alg, c->src, wei_any, c->dst, strides, dil, pad_l, pad_r, c->fwd_pd, attr);
  c->bwd_w_pd = dnnl::convolution_backward_weights::primitive_desc(
      Engine(), alg, c->src, wei_any, c->dst, strides, dil, pad_l, pad_r, c->fwd_pd, attr);
  c->fwd = dnnl::convolution_forward(c->fwd_pd);
  c->bwd_data = dnnl::convolution_backward_data(c->bwd_data_pd);
  c->bwd_w = dnnl::convolution_backward_weights(c->bwd_w_pd);
  return c;
}

Conv* GetConv(const Geometry& g) {
  return Cached<Conv>(Key({g.n, g.h, g.w, g.c, g.o, g.kh, g.kw, g.oh, g.ow, g.sh, g.sw, g.pt,
                           g.pb, g.pl, g.pr, static_cast<int64_t>(g.dt)}),
                      [&] { return MakeConv(g); });
}

// Inference: y = conv(x, w) + bias, then + y's content (the residual) with
// sum, then max(., 0) with relu, all in the convolution's own pass over y
// (oneDNN post-ops). An eval pass folds each batch norm into w and bias, so
// the norm, the residual add and the ReLU cost no passes of their own.
struct ConvInfer {
  memory::desc src, wei, bias, dst;  // the caller's plain layouts
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::primitive prim;
};

ConvInfer* GetConvInfer(const Geometry& g, bool sum, bool relu) {
  return Cached<ConvInfer>(
      Key({g.n, g.h, g.w, g.c, g.o, g.kh, g.kw, g.oh, g.ow, g.sh, g.sw, g.pt, g.pb, g.pl, g.pr,
           sum, relu, static_cast<int64_t>(g.dt)}),
      [&] {
        auto c = std::make_unique<ConvInfer>();
        c->src = memory::desc({g.n, g.c, g.h, g.w}, g.dt, tag::nhwc);
        c->wei = memory::desc({g.o, g.c, g.kh, g.kw}, g.dt, tag::hwio);
        c->bias = memory::desc({g.o}, kF32, tag::a);  // float32 with either
        c->dst = memory::desc({g.n, g.o, g.oh, g.ow}, g.dt, tag::nhwc);
        dnnl::post_ops ops;
        if (sum) ops.append_sum(1.f);
        if (relu) ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
        auto attr = UserScratchpad();
        attr.set_post_ops(ops);
        c->pd = dnnl::convolution_forward::primitive_desc(
            Engine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
            c->src, memory::desc({g.o, g.c, g.kh, g.kw}, g.dt, tag::any), c->bias, c->dst,
            {g.sh, g.sw}, {0, 0}, {g.pt, g.pl}, {g.pb, g.pr}, attr);
        c->prim = dnnl::convolution_forward(c->pd);
        return c;
      });
}

Geometry Geo(ffi::Span<const int64_t> x, ffi::Span<const int64_t> w,
             ffi::Span<const int64_t> y, ffi::Span<const int64_t> strides,
             ffi::Span<const int64_t> pads) {
  return Geometry{x[0], x[1], x[2], x[3], w[3], w[0], w[1], y[1], y[2],
                  strides[0], strides[1], pads[0], pads[1], pads[2], pads[3]};
}

// ---- Batch normalisation ----

struct BatchNorm {
  memory::desc data, stat;
  dnnl::batch_normalization_forward::primitive_desc fwd_pd;
  dnnl::batch_normalization_backward::primitive_desc bwd_pd;
  dnnl::primitive fwd, bwd;
};

// relu: y = max(bn(x), 0) in the same pass, and its mask kept in a workspace
// for the backward pass, which saves the activation's separate ReLU passes.
BatchNorm* GetBatchNorm(int64_t n, int64_t h, int64_t w, int64_t c, float epsilon, bool relu,
                        memory::data_type dt) {
  int64_t eps_bits = 0;
  std::memcpy(&eps_bits, &epsilon, sizeof(epsilon));
  return Cached<BatchNorm>(Key({n, h, w, c, eps_bits, relu, static_cast<int64_t>(dt)}), [&] {
    auto b = std::make_unique<BatchNorm>();
    b->data = memory::desc({n, c, h, w}, dt, tag::nhwc);
    b->stat = memory::desc({c}, kF32, tag::a);
    auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
    if (relu) flags = flags | dnnl::normalization_flags::fuse_norm_relu;
    const auto attr = UserScratchpad();
    b->fwd_pd = dnnl::batch_normalization_forward::primitive_desc(
        Engine(), dnnl::prop_kind::forward_training, b->data, b->data, epsilon, flags, attr);
    b->bwd_pd = dnnl::batch_normalization_backward::primitive_desc(
        Engine(), dnnl::prop_kind::backward, b->data, b->data, b->data, epsilon, flags,
        b->fwd_pd, attr);
    b->fwd = dnnl::batch_normalization_forward(b->fwd_pd);
    b->bwd = dnnl::batch_normalization_backward(b->bwd_pd);
    return b;
  });
}

// The batch is the rows the mask keeps, which must come first (the trainer
// pads a short last batch at its end); the rest are outside it.
ffi::Error KeptRows(ffi::Buffer<ffi::F32> mask, int64_t* kept) {
  const float* m = mask.typed_data();
  const int64_t n = mask.element_count();
  int64_t k = 0;
  while (k < n && m[k] != 0.f) ++k;
  for (int64_t i = k; i < n; ++i)
    if (m[i] != 0.f)
      return ffi::Error::InvalidArgument("batch norm: the rows the mask keeps must come first");
  if (k == 0) return ffi::Error::InvalidArgument("batch norm: the mask keeps no rows");
  *kept = k;
  return ffi::Error::Success();
}

void ZeroRowsFrom(int64_t k, ffi::Result<ffi::AnyBuffer>& out) {
  const int64_t row_bytes = out->size_bytes() / out->dimensions()[0];
  std::memset(static_cast<char*>(out->untyped_data()) + k * row_bytes, 0,
              out->size_bytes() - k * row_bytes);
}

// The geometry of a convolution of x (or dx), w (or dw) and y (or dy), which
// must share one element type, float32 or bfloat16.
ffi::Error TypedGeometry(const ffi::AnyBuffer& x, const ffi::AnyBuffer& w,
                         const ffi::AnyBuffer& y, ffi::Span<const int64_t> strides,
                         ffi::Span<const int64_t> pads, Geometry* g) {
  memory::data_type dt;
  if (x.element_type() != w.element_type() || x.element_type() != y.element_type() ||
      !DnnlType(x.element_type(), &dt))
    return ffi::Error::InvalidArgument("convolution: buffers must all be float32 or bfloat16");
  *g = Geo(x.dimensions(), w.dimensions(), y.dimensions(), strides, pads);
  g->dt = dt;
  return ffi::Error::Success();
}

}  // namespace

ffi::Error ConvForward(ffi::AnyBuffer x, ffi::AnyBuffer w, ffi::Result<ffi::AnyBuffer> y,
                       ffi::Span<const int64_t> strides, ffi::Span<const int64_t> pads) {
  Geometry g;
  if (ffi::Error e = TypedGeometry(x, w, *y, strides, pads, &g); e.failure())
    return e;
  return Run("convolution", [&](dnnl::stream& s) {
    Conv* c = GetConv(g);
    memory wm = AsLayout(s, Wrap(c->wei, w.untyped_data()), c->fwd_pd.weights_desc());
    c->fwd.execute(s, {{DNNL_ARG_SRC, Wrap(c->src, x.untyped_data())},
                       {DNNL_ARG_WEIGHTS, wm},
                       {DNNL_ARG_DST, Wrap(c->dst, y->untyped_data())},
                       {DNNL_ARG_SCRATCHPAD, Scratch(c->fwd_pd)}});
  });
}

ffi::Error ConvInputGrad(ffi::AnyBuffer dy, ffi::AnyBuffer w, ffi::Result<ffi::AnyBuffer> dx,
                         ffi::Span<const int64_t> strides, ffi::Span<const int64_t> pads) {
  Geometry g;
  if (ffi::Error e = TypedGeometry(*dx, w, dy, strides, pads, &g); e.failure())
    return e;
  return Run("convolution", [&](dnnl::stream& s) {
    Conv* c = GetConv(g);
    memory wm = AsLayout(s, Wrap(c->wei, w.untyped_data()), c->bwd_data_pd.weights_desc());
    c->bwd_data.execute(s, {{DNNL_ARG_DIFF_DST, Wrap(c->dst, dy.untyped_data())},
                            {DNNL_ARG_WEIGHTS, wm},
                            {DNNL_ARG_DIFF_SRC, Wrap(c->src, dx->untyped_data())},
                            {DNNL_ARG_SCRATCHPAD, Scratch(c->bwd_data_pd)}});
  });
}

ffi::Error ConvKernelGrad(ffi::AnyBuffer x, ffi::AnyBuffer dy, ffi::Result<ffi::AnyBuffer> dw,
                          ffi::Span<const int64_t> strides, ffi::Span<const int64_t> pads) {
  Geometry g;
  if (ffi::Error e = TypedGeometry(x, *dw, dy, strides, pads, &g); e.failure())
    return e;
  return Run("convolution", [&](dnnl::stream& s) {
    Conv* c = GetConv(g);
    memory user = Wrap(c->wei, dw->untyped_data());
    const bool plain = c->bwd_w_pd.diff_weights_desc() == c->wei;
    memory out = plain ? user : memory(c->bwd_w_pd.diff_weights_desc(), Engine());
    c->bwd_w.execute(s, {{DNNL_ARG_SRC, Wrap(c->src, x.untyped_data())},
                         {DNNL_ARG_DIFF_DST, Wrap(c->dst, dy.untyped_data())},
                         {DNNL_ARG_DIFF_WEIGHTS, out},
                         {DNNL_ARG_SCRATCHPAD, Scratch(c->bwd_w_pd)}});
    if (!plain) dnnl::reorder(out, user).execute(s, out, user);
  });
}

// y = conv(x, w) + bias (+ residual) (then max(., 0)), forward only (eval).
// With a residual, XLA hands y the residual's buffer (the call aliases them);
// a copy is made where it did not.
ffi::Error ConvBiasImpl(ffi::AnyBuffer x, ffi::AnyBuffer w, ffi::Buffer<ffi::F32> bias,
                        const ffi::AnyBuffer* residual, ffi::Result<ffi::AnyBuffer>& y,
                        ffi::Span<const int64_t> strides, ffi::Span<const int64_t> pads,
                        int64_t relu) {
  Geometry g;
  if (ffi::Error e = TypedGeometry(x, w, *y, strides, pads, &g); e.failure())
    return e;
  if (residual && residual->element_type() != y->element_type())
    return ffi::Error::InvalidArgument("convolution: the residual must have y's type");
  if (residual && residual->untyped_data() != y->untyped_data())
    std::memcpy(y->untyped_data(), residual->untyped_data(), y->size_bytes());
  return Run("convolution", [&](dnnl::stream& s) {
    ConvInfer* c = GetConvInfer(g, residual != nullptr, relu != 0);
    memory wm = AsLayout(s, Wrap(c->wei, w.untyped_data()), c->pd.weights_desc());
    c->prim.execute(s, {{DNNL_ARG_SRC, Wrap(c->src, x.untyped_data())},
                        {DNNL_ARG_WEIGHTS, wm},
                        {DNNL_ARG_BIAS, Wrap(c->bias, bias.typed_data())},
                        {DNNL_ARG_DST, Wrap(c->dst, y->untyped_data())},
                        {DNNL_ARG_SCRATCHPAD, Scratch(c->pd)}});
  });
}

ffi::Error ConvBias(ffi::AnyBuffer x, ffi::AnyBuffer w, ffi::Buffer<ffi::F32> bias,
                    ffi::Result<ffi::AnyBuffer> y, ffi::Span<const int64_t> strides,
                    ffi::Span<const int64_t> pads, int64_t relu) {
  return ConvBiasImpl(x, w, bias, nullptr, y, strides, pads, relu);
}

ffi::Error ConvBiasAdd(ffi::AnyBuffer x, ffi::AnyBuffer w, ffi::Buffer<ffi::F32> bias,
                       ffi::AnyBuffer residual, ffi::Result<ffi::AnyBuffer> y,
                       ffi::Span<const int64_t> strides, ffi::Span<const int64_t> pads,
                       int64_t relu) {
  return ConvBiasImpl(x, w, bias, &residual, y, strides, pads, relu);
}

namespace {

// The ReLU mask's buffer: the caller sizes it for the whole batch, which
// holds the kept rows' mask.
struct Workspace {
  void* data;
  size_t bytes;
};

ffi::Error AddWorkspace(const memory::desc& md, const Workspace& ws, Args* args) {
  if (ws.bytes < md.get_size())
    return ffi::Error::InvalidArgument("batch norm: the ReLU workspace is too small");
  args->insert({DNNL_ARG_WORKSPACE, Wrap(md, ws.data)});
  return ffi::Error::Success();
}

// Runs the forward or backward primitive of x's batch norm over the kept
// rows, with the arguments args_of gives it and the ReLU's workspace if any;
// then zeroes the other rows of out (y or dx).
ffi::Error BatchNormCall(const ffi::AnyBuffer& x, const ffi::AnyBuffer& other,
                         ffi::Buffer<ffi::F32> mask, float epsilon,
                         const Workspace* workspace, bool backward,
                         const std::function<Args(BatchNorm*)>& args_of,
                         ffi::Result<ffi::AnyBuffer>& out) {
  memory::data_type dt;
  if (x.element_type() != other.element_type() || x.element_type() != out->element_type() ||
      !DnnlType(x.element_type(), &dt))
    return ffi::Error::InvalidArgument("batch norm: activations must all be float32 or bfloat16");
  int64_t k = 0;
  if (ffi::Error e = KeptRows(mask, &k); e.failure()) return e;
  const auto d = x.dimensions();
  BatchNorm* b = nullptr;
  try {
    b = GetBatchNorm(k, d[1], d[2], d[3], epsilon, workspace != nullptr, dt);
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal(std::string("oneDNN batch norm failed: ") + e.what());
  }
  Args args = args_of(b);
  if (workspace) {
    const memory::desc md = backward ? b->bwd_pd.workspace_desc() : b->fwd_pd.workspace_desc();
    if (ffi::Error e = AddWorkspace(md, *workspace, &args); e.failure()) return e;
  }
  ffi::Error done = Run("batch norm", [&](dnnl::stream& s) {
    (backward ? b->bwd : b->fwd).execute(s, args);
  });
  ZeroRowsFrom(k, out);
  return done;
}

// ---- Group normalisation ----
//
// XLA:CPU runs Flax's GroupNorm and the swish after it as about a dozen
// fusions and reductions, each a pass over the activation; the UNet step
// spent 15% of its time there (BENCHMARKS.md, "GroupNorm as one pass").
// Here each image is one task: its statistics pass leaves the image in
// the core's L2 for the pass that writes it, so an image is read from
// memory about once each way. Per-image work in a fixed order keeps the
// results bit-identical from run to run (resumed runs rely on that).

enum GnActivation : int64_t { kGnNone = 0, kGnRelu = 1, kGnSwish = 2 };

// exp(v) for the swish, written so that the compiler vectorises its loops
// (libm's expf is a call per element): Cody-Waite range reduction and a
// degree-6 polynomial, about 2 ulp; large arguments saturate like expf's.
inline float VecExp(float v) {
  v = std::min(std::max(v, -87.0f), 88.0f);
  // Round to nearest by adding and taking away 1.5 * 2^23 (no libm call,
  // which would stop the vectorisation).
  const float n = (v * 1.44269504088896341f + 12582912.f) - 12582912.f;
  const float r = (v - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits;
  std::memcpy(&bits, &p, sizeof bits);
  bits += static_cast<int32_t>(n) << 23;
  std::memcpy(&p, &bits, sizeof p);
  return p;
}

// The activation is a template argument: a branch on it inside the loops
// would keep them scalar.
template <int64_t kAct>
inline float GnAct(float y) {
  if (kAct == kGnRelu) return y > 0.f ? y : 0.f;
  if (kAct == kGnSwish) return y / (1.f + VecExp(-y));
  return y;
}

// d act(y) / dy times dz.
template <int64_t kAct>
inline float GnActGrad(float y, float dz) {
  if (kAct == kGnRelu) return y > 0.f ? dz : 0.f;
  if (kAct == kGnSwish) {
    const float s = 1.f / (1.f + VecExp(-y));
    return dz * s * (1.f + y * (1.f - s));
  }
  return dz;
}

struct GnDims {
  int64_t n, p, c, g;  // images, pixels an image, channels, groups
};

// Activations are float32 or bfloat16 (kept as its bits); the arithmetic is
// float32 either way, rounded to bfloat16 (to nearest even) once, on output.
using Bf16 = uint16_t;

inline float Load(const float* p, int64_t k) { return p[k]; }

inline float Load(const Bf16* p, int64_t k) {
  const uint32_t bits = static_cast<uint32_t>(p[k]) << 16;
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

inline void Store(float v, float* p, int64_t k) { p[k] = v; }

inline void Store(float v, Bf16* p, int64_t k) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  p[k] = static_cast<Bf16>((bits & 0x7FFFFFFFu) > 0x7F800000u ? 0x7FC0u : rounded);  // NaN
}

// x's dimensions, and whether it is bfloat16 (else float32).
ffi::Error GnCheck(const ffi::AnyBuffer& x, int64_t groups, int64_t act, GnDims* d,
                   bool* bf16) {
  const auto dims = x.dimensions();
  if (dims.size() != 4) return ffi::Error::InvalidArgument("group norm: x must be NHWC");
  *d = GnDims{dims[0], dims[1] * dims[2], dims[3], groups};
  if (groups <= 0 || d->c % groups)
    return ffi::Error::InvalidArgument("group norm: groups must divide the channels");
  if (act != kGnNone && act != kGnRelu && act != kGnSwish)
    return ffi::Error::InvalidArgument("group norm: unknown activation");
  *bf16 = x.element_type() == ffi::DataType::BF16;
  if (!*bf16 && x.element_type() != ffi::DataType::F32)
    return ffi::Error::InvalidArgument("group norm: x must be float32 or bfloat16");
  return ffi::Error::Success();
}

// Compiled for AVX-512, AVX2 and the x86-64 baseline, picked at load time:
// the swish's exp and division are arithmetic-bound at SSE's 4 lanes.
#define MEDAUG_GN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

// One image's y and its [groups] mean and rstd; s1, s2, mu_c, a_c, row_f:
// [c] scratch.
template <int64_t kAct, typename T>
MEDAUG_GN_CLONES void GnForwardImage(const GnDims& d, const T* x, const float* gamma,
                                     const float* beta, float epsilon, T* y, float* mean,
                                     float* rstd, float* s1, float* s2, float* mu_c,
                                     float* a_c, float* row_f) {
  const int64_t c = d.c, cg = c / d.g;
  const double count = static_cast<double>(d.p) * cg;
  std::fill(s1, s1 + c, 0.f);
  std::fill(s2, s2 + c, 0.f);
  for (int64_t q = 0; q < d.p; ++q) {
    const T* row = x + q * c;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) {
      const float v = Load(row, k);
      s1[k] += v;
      s2[k] += v * v;
    }
  }
  for (int64_t j = 0; j < d.g; ++j) {
    double t1 = 0, t2 = 0;
    for (int64_t k = j * cg; k < (j + 1) * cg; ++k) {
      t1 += s1[k];
      t2 += s2[k];
    }
    const double mu = t1 / count;
    const float var = static_cast<float>(std::max(0.0, t2 / count - mu * mu));
    const float rs = 1.f / std::sqrt(var + epsilon);
    mean[j] = static_cast<float>(mu);
    rstd[j] = rs;
    for (int64_t k = j * cg; k < (j + 1) * cg; ++k) {
      mu_c[k] = static_cast<float>(mu);
      a_c[k] = rs * gamma[k];
    }
  }
  for (int64_t q = 0; q < d.p; ++q) {
    const T* row = x + q * c;
    // bfloat16 rows go through a float32 one: GCC vectorises the swish's
    // exp or the rounding to 16 bits, not both in one loop (8x slower).
    float* out = std::is_same<T, float>::value ? reinterpret_cast<float*>(y + q * c) : row_f;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k)
      out[k] = GnAct<kAct>((Load(row, k) - mu_c[k]) * a_c[k] + beta[k]);
    if (!std::is_same<T, float>::value) {
      T* dst = y + q * c;
#pragma omp simd
      for (int64_t k = 0; k < c; ++k) Store(row_f[k], dst, k);
    }
  }
}

// One image's dx and its shares of dscale (sdyxh) and dbias (sdy); dy holds
// the activation's gradient between the passes ([pixels, c]: dx itself in
// float32); mu_c .. k3: [c] scratch.
template <int64_t kAct, typename T>
MEDAUG_GN_CLONES void GnBackwardImage(const GnDims& d, const T* x, const T* dz,
                                      const float* gamma, const float* beta,
                                      const float* mean, const float* rstd, T* dx, float* dy,
                                      float* sdyxh, float* sdy, float* mu_c, float* rs_c,
                                      float* k1, float* k2, float* k3) {
  const int64_t c = d.c, cg = c / d.g;
  const float inv_count = static_cast<float>(1.0 / (static_cast<double>(d.p) * cg));
  for (int64_t k = 0; k < c; ++k) {
    mu_c[k] = mean[k / cg];
    rs_c[k] = rstd[k / cg];
    sdy[k] = sdyxh[k] = 0.f;
  }
  for (int64_t q = 0; q < d.p; ++q) {
    const T* row = x + q * c;
    const T* g = dz + q * c;
    float* dyr = dy + q * c;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k) {
      const float xh = (Load(row, k) - mu_c[k]) * rs_c[k];
      const float v = GnActGrad<kAct>(xh * gamma[k] + beta[k], Load(g, k));
      dyr[k] = v;
      sdy[k] += v;
      sdyxh[k] += v * xh;
    }
  }
  // dx = rstd * (scale * dy - mean_g(scale * dy) - xh * mean_g(scale * dy * xh)).
  for (int64_t j = 0; j < d.g; ++j) {
    double a = 0, b = 0;
    for (int64_t k = j * cg; k < (j + 1) * cg; ++k) {
      a += static_cast<double>(gamma[k]) * sdy[k];
      b += static_cast<double>(gamma[k]) * sdyxh[k];
    }
    const float rs = rstd[j];
    const float ma = static_cast<float>(a) * inv_count, mb = static_cast<float>(b) * inv_count;
    for (int64_t k = j * cg; k < (j + 1) * cg; ++k) {
      k1[k] = rs * gamma[k];
      k2[k] = rs * rs * mb;
      k3[k] = rs * ma;
    }
  }
  for (int64_t q = 0; q < d.p; ++q) {
    const T* row = x + q * c;
    const float* dyr = dy + q * c;
    T* out = dx + q * c;
#pragma omp simd
    for (int64_t k = 0; k < c; ++k)
      Store(k1[k] * dyr[k] - k2[k] * (Load(row, k) - mu_c[k]) - k3[k], out, k);
  }
}

// The kernel compiled for the activation act (GnCheck has checked it).
template <typename Kernel>
Kernel PickGn(int64_t act, Kernel none, Kernel relu, Kernel swish) {
  return act == kGnSwish ? swish : act == kGnRelu ? relu : none;
}

// image(i, scratch) for every image, in parallel; each thread has its own
// scratch_floats of scratch. A static schedule and per-image outputs keep
// the results independent of the thread count.
template <typename F>
void ForEachImage(int64_t n, int64_t scratch_floats, const F& image) {
#pragma omp parallel
  {
    std::vector<float> scratch(scratch_floats);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) image(i, scratch.data());
  }
}

template <typename T>
void GnForward(const GnDims& d, int64_t act, const T* x, const float* scale, const float* bias,
               float epsilon, T* y, float* mean, float* rstd) {
  const auto image = PickGn(act, &GnForwardImage<kGnNone, T>, &GnForwardImage<kGnRelu, T>,
                            &GnForwardImage<kGnSwish, T>);
  const int64_t size = d.p * d.c;
  ForEachImage(d.n, 5 * d.c, [&](int64_t i, float* s) {
    image(d, x + i * size, scale, bias, epsilon, y + i * size, mean + i * d.g, rstd + i * d.g,
          s, s + d.c, s + 2 * d.c, s + 3 * d.c, s + 4 * d.c);
  });
}

template <typename T>
void GnBackward(const GnDims& d, int64_t act, const T* x, const T* dz, const float* scale,
                const float* bias, const float* mean, const float* rstd, T* dx,
                float* dscale, float* dbias) {
  const auto image = PickGn(act, &GnBackwardImage<kGnNone, T>, &GnBackwardImage<kGnRelu, T>,
                            &GnBackwardImage<kGnSwish, T>);
  const int64_t size = d.p * d.c;
  // float32's dx holds dy itself; bfloat16's would round it, so dy gets
  // scratch of its own.
  constexpr bool in_place = std::is_same<T, float>::value;
  ForEachImage(d.n, 5 * d.c + (in_place ? 0 : size), [&](int64_t i, float* s) {
    float* dy = in_place ? reinterpret_cast<float*>(dx + i * size) : s + 5 * d.c;
    image(d, x + i * size, dz + i * size, scale, bias, mean + i * d.g, rstd + i * d.g,
          dx + i * size, dy, dscale + i * d.c, dbias + i * d.c, s, s + d.c, s + 2 * d.c,
          s + 3 * d.c, s + 4 * d.c);
  });
}

// y = act((x - mean) * rsqrt(var + epsilon) * scale + bias) over each image's
// groups, var = E[x^2] - E[x]^2 clipped at 0 (Flax's fast variance); mean and
// rstd per [image, group] for the backward pass. x and y float32 or bfloat16.
ffi::Error GroupNormForward(ffi::AnyBuffer x, ffi::Buffer<ffi::F32> scale,
                            ffi::Buffer<ffi::F32> bias, ffi::Result<ffi::AnyBuffer> y,
                            ffi::ResultBuffer<ffi::F32> mean, ffi::ResultBuffer<ffi::F32> rstd,
                            int64_t groups, float epsilon, int64_t act) {
  GnDims d;
  bool bf16 = false;
  if (ffi::Error e = GnCheck(x, groups, act, &d, &bf16); e.failure()) return e;
  if (y->element_type() != x.element_type())
    return ffi::Error::InvalidArgument("group norm: y must have x's type");
  if (bf16)
    GnForward(d, act, static_cast<const Bf16*>(x.untyped_data()), scale.typed_data(),
              bias.typed_data(), epsilon, static_cast<Bf16*>(y->untyped_data()),
              mean->typed_data(), rstd->typed_data());
  else
    GnForward(d, act, static_cast<const float*>(x.untyped_data()), scale.typed_data(),
              bias.typed_data(), epsilon, static_cast<float*>(y->untyped_data()),
              mean->typed_data(), rstd->typed_data());
  return ffi::Error::Success();
}

// dx, and each image's share of dscale and dbias ([images, channels]: the
// caller sums them, in a fixed order), given dz, the gradient of act's output.
ffi::Error GroupNormBackward(ffi::AnyBuffer x, ffi::AnyBuffer dz, ffi::Buffer<ffi::F32> scale,
                             ffi::Buffer<ffi::F32> bias, ffi::Buffer<ffi::F32> mean,
                             ffi::Buffer<ffi::F32> rstd, ffi::Result<ffi::AnyBuffer> dx,
                             ffi::ResultBuffer<ffi::F32> dscale,
                             ffi::ResultBuffer<ffi::F32> dbias, int64_t groups, int64_t act) {
  GnDims d;
  bool bf16 = false;
  if (ffi::Error e = GnCheck(x, groups, act, &d, &bf16); e.failure()) return e;
  if (dz.element_type() != x.element_type() || dx->element_type() != x.element_type())
    return ffi::Error::InvalidArgument("group norm: dz and dx must have x's type");
  if (bf16)
    GnBackward(d, act, static_cast<const Bf16*>(x.untyped_data()),
               static_cast<const Bf16*>(dz.untyped_data()), scale.typed_data(),
               bias.typed_data(), mean.typed_data(), rstd.typed_data(),
               static_cast<Bf16*>(dx->untyped_data()), dscale->typed_data(),
               dbias->typed_data());
  else
    GnBackward(d, act, static_cast<const float*>(x.untyped_data()),
               static_cast<const float*>(dz.untyped_data()), scale.typed_data(),
               bias.typed_data(), mean.typed_data(), rstd.typed_data(),
               static_cast<float*>(dx->untyped_data()), dscale->typed_data(),
               dbias->typed_data());
  return ffi::Error::Success();
}

}  // namespace

// y = (x - mean) / sqrt(var + epsilon) * scale + shift over the kept rows,
// with their biased variance (and max(y, 0) with a workspace); the other
// rows of y are zero.
ffi::Error BatchNormForwardImpl(ffi::AnyBuffer x, ffi::Buffer<ffi::F32> scale,
                                ffi::Buffer<ffi::F32> shift, ffi::Buffer<ffi::F32> mask,
                                ffi::Result<ffi::AnyBuffer> y, ffi::ResultBuffer<ffi::F32> mean,
                                ffi::ResultBuffer<ffi::F32> var, float epsilon,
                                const Workspace* workspace) {
  return BatchNormCall(x, x, mask, epsilon, workspace, false, [&](BatchNorm* b) {
    return Args{{DNNL_ARG_SRC, Wrap(b->data, x.untyped_data())},
                {DNNL_ARG_SCALE, Wrap(b->stat, scale.typed_data())},
                {DNNL_ARG_SHIFT, Wrap(b->stat, shift.typed_data())},
                {DNNL_ARG_DST, Wrap(b->data, y->untyped_data())},
                {DNNL_ARG_MEAN, Wrap(b->stat, mean->typed_data())},
                {DNNL_ARG_VARIANCE, Wrap(b->stat, var->typed_data())},
                {DNNL_ARG_SCRATCHPAD, Scratch(b->fwd_pd)}};
  }, y);
}

ffi::Error BatchNormForward(ffi::AnyBuffer x, ffi::Buffer<ffi::F32> scale,
                            ffi::Buffer<ffi::F32> shift, ffi::Buffer<ffi::F32> mask,
                            ffi::Result<ffi::AnyBuffer> y, ffi::ResultBuffer<ffi::F32> mean,
                            ffi::ResultBuffer<ffi::F32> var, float epsilon) {
  return BatchNormForwardImpl(x, scale, shift, mask, y, mean, var, epsilon, nullptr);
}

ffi::Error BatchNormReluForward(ffi::AnyBuffer x, ffi::Buffer<ffi::F32> scale,
                                ffi::Buffer<ffi::F32> shift, ffi::Buffer<ffi::F32> mask,
                                ffi::Result<ffi::AnyBuffer> y, ffi::ResultBuffer<ffi::F32> mean,
                                ffi::ResultBuffer<ffi::F32> var,
                                ffi::ResultBuffer<ffi::U8> workspace, float epsilon) {
  const Workspace ws{workspace->untyped_data(), workspace->size_bytes()};
  return BatchNormForwardImpl(x, scale, shift, mask, y, mean, var, epsilon, &ws);
}

// The gradients of the kept rows' y (through the batch statistics too, and
// the ReLU given its workspace) with respect to x, scale and shift; the other
// rows of dx are zero.
ffi::Error BatchNormBackwardImpl(ffi::AnyBuffer x, ffi::AnyBuffer dy,
                                 ffi::Buffer<ffi::F32> scale, ffi::Buffer<ffi::F32> mean,
                                 ffi::Buffer<ffi::F32> var, ffi::Buffer<ffi::F32> mask,
                                 ffi::Result<ffi::AnyBuffer> dx,
                                 ffi::ResultBuffer<ffi::F32> dscale,
                                 ffi::ResultBuffer<ffi::F32> dshift, float epsilon,
                                 const Workspace* workspace) {
  return BatchNormCall(x, dy, mask, epsilon, workspace, true, [&](BatchNorm* b) {
    return Args{{DNNL_ARG_SRC, Wrap(b->data, x.untyped_data())},
                {DNNL_ARG_DIFF_DST, Wrap(b->data, dy.untyped_data())},
                {DNNL_ARG_SCALE, Wrap(b->stat, scale.typed_data())},
                {DNNL_ARG_MEAN, Wrap(b->stat, mean.typed_data())},
                {DNNL_ARG_VARIANCE, Wrap(b->stat, var.typed_data())},
                {DNNL_ARG_DIFF_SRC, Wrap(b->data, dx->untyped_data())},
                {DNNL_ARG_DIFF_SCALE, Wrap(b->stat, dscale->typed_data())},
                {DNNL_ARG_DIFF_SHIFT, Wrap(b->stat, dshift->typed_data())},
                {DNNL_ARG_SCRATCHPAD, Scratch(b->bwd_pd)}};
  }, dx);
}

ffi::Error BatchNormBackward(ffi::AnyBuffer x, ffi::AnyBuffer dy,
                             ffi::Buffer<ffi::F32> scale, ffi::Buffer<ffi::F32> mean,
                             ffi::Buffer<ffi::F32> var, ffi::Buffer<ffi::F32> mask,
                             ffi::Result<ffi::AnyBuffer> dx, ffi::ResultBuffer<ffi::F32> dscale,
                             ffi::ResultBuffer<ffi::F32> dshift, float epsilon) {
  return BatchNormBackwardImpl(x, dy, scale, mean, var, mask, dx, dscale, dshift, epsilon,
                               nullptr);
}

ffi::Error BatchNormReluBackward(ffi::AnyBuffer x, ffi::AnyBuffer dy,
                                 ffi::Buffer<ffi::F32> scale, ffi::Buffer<ffi::F32> mean,
                                 ffi::Buffer<ffi::F32> var, ffi::Buffer<ffi::F32> mask,
                                 ffi::Buffer<ffi::U8> workspace,
                                 ffi::Result<ffi::AnyBuffer> dx,
                                 ffi::ResultBuffer<ffi::F32> dscale,
                                 ffi::ResultBuffer<ffi::F32> dshift, float epsilon) {
  const Workspace ws{workspace.untyped_data(), workspace.size_bytes()};
  return BatchNormBackwardImpl(x, dy, scale, mean, var, mask, dx, dscale, dshift, epsilon, &ws);
}

#define MEDAUG_CONV_HANDLER(symbol, impl)                              \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(symbol, impl,                          \
                                ffi::Ffi::Bind()                       \
                                    .Arg<ffi::AnyBuffer>()             \
                                    .Arg<ffi::AnyBuffer>()             \
                                    .Ret<ffi::AnyBuffer>()             \
                                    .Attr<ffi::Span<const int64_t>>("strides") \
                                    .Attr<ffi::Span<const int64_t>>("pads"))

MEDAUG_CONV_HANDLER(MedaugConvForward, ConvForward);
MEDAUG_CONV_HANDLER(MedaugConvInputGrad, ConvInputGrad);
MEDAUG_CONV_HANDLER(MedaugConvKernelGrad, ConvKernelGrad);

XLA_FFI_DEFINE_HANDLER_SYMBOL(MedaugConvBias, ConvBias,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()         // x
                                  .Arg<ffi::AnyBuffer>()         // w
                                  .Arg<ffi::Buffer<ffi::F32>>()  // bias
                                  .Ret<ffi::AnyBuffer>()         // y
                                  .Attr<ffi::Span<const int64_t>>("strides")
                                  .Attr<ffi::Span<const int64_t>>("pads")
                                  .Attr<int64_t>("relu"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(MedaugConvBiasAdd, ConvBiasAdd,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()         // x
                                  .Arg<ffi::AnyBuffer>()         // w
                                  .Arg<ffi::Buffer<ffi::F32>>()  // bias
                                  .Arg<ffi::AnyBuffer>()         // residual
                                  .Ret<ffi::AnyBuffer>()         // y (the residual's buffer)
                                  .Attr<ffi::Span<const int64_t>>("strides")
                                  .Attr<ffi::Span<const int64_t>>("pads")
                                  .Attr<int64_t>("relu"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(MedaugBatchNormForward, BatchNormForward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()         // x
                                  .Arg<ffi::Buffer<ffi::F32>>()  // scale
                                  .Arg<ffi::Buffer<ffi::F32>>()  // shift
                                  .Arg<ffi::Buffer<ffi::F32>>()  // mask
                                  .Ret<ffi::AnyBuffer>()         // y
                                  .Ret<ffi::Buffer<ffi::F32>>()  // mean
                                  .Ret<ffi::Buffer<ffi::F32>>()  // var
                                  .Attr<float>("epsilon"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(MedaugBatchNormBackward, BatchNormBackward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()         // x
                                  .Arg<ffi::AnyBuffer>()         // dy
                                  .Arg<ffi::Buffer<ffi::F32>>()  // scale
                                  .Arg<ffi::Buffer<ffi::F32>>()  // mean
                                  .Arg<ffi::Buffer<ffi::F32>>()  // var
                                  .Arg<ffi::Buffer<ffi::F32>>()  // mask
                                  .Ret<ffi::AnyBuffer>()         // dx
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dscale
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dshift
                                  .Attr<float>("epsilon"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(MedaugBatchNormReluForward, BatchNormReluForward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()         // x
                                  .Arg<ffi::Buffer<ffi::F32>>()  // scale
                                  .Arg<ffi::Buffer<ffi::F32>>()  // shift
                                  .Arg<ffi::Buffer<ffi::F32>>()  // mask
                                  .Ret<ffi::AnyBuffer>()         // y
                                  .Ret<ffi::Buffer<ffi::F32>>()  // mean
                                  .Ret<ffi::Buffer<ffi::F32>>()  // var
                                  .Ret<ffi::Buffer<ffi::U8>>()   // ReLU workspace
                                  .Attr<float>("epsilon"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(MedaugBatchNormReluBackward, BatchNormReluBackward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()         // x
                                  .Arg<ffi::AnyBuffer>()         // dy
                                  .Arg<ffi::Buffer<ffi::F32>>()  // scale
                                  .Arg<ffi::Buffer<ffi::F32>>()  // mean
                                  .Arg<ffi::Buffer<ffi::F32>>()  // var
                                  .Arg<ffi::Buffer<ffi::F32>>()  // mask
                                  .Arg<ffi::Buffer<ffi::U8>>()   // ReLU workspace
                                  .Ret<ffi::AnyBuffer>()         // dx
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dscale
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dshift
                                  .Attr<float>("epsilon"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(MedaugGroupNormForward, GroupNormForward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()         // x
                                  .Arg<ffi::Buffer<ffi::F32>>()  // scale
                                  .Arg<ffi::Buffer<ffi::F32>>()  // bias
                                  .Ret<ffi::AnyBuffer>()         // y
                                  .Ret<ffi::Buffer<ffi::F32>>()  // mean [images, groups]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // rstd [images, groups]
                                  .Attr<int64_t>("groups")
                                  .Attr<float>("epsilon")
                                  .Attr<int64_t>("activation"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(MedaugGroupNormBackward, GroupNormBackward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()         // x
                                  .Arg<ffi::AnyBuffer>()         // dz
                                  .Arg<ffi::Buffer<ffi::F32>>()  // scale
                                  .Arg<ffi::Buffer<ffi::F32>>()  // bias
                                  .Arg<ffi::Buffer<ffi::F32>>()  // mean
                                  .Arg<ffi::Buffer<ffi::F32>>()  // rstd
                                  .Ret<ffi::AnyBuffer>()         // dx
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dscale [images, channels]
                                  .Ret<ffi::Buffer<ffi::F32>>()  // dbias [images, channels]
                                  .Attr<int64_t>("groups")
                                  .Attr<int64_t>("activation"));

// Bytes of the ReLU workspace of a batch norm over a whole [n, h, w, c]
// batch (-1 if oneDNN cannot make it).
extern "C" int64_t medaug_bn_relu_workspace_bytes(int64_t n, int64_t h, int64_t w, int64_t c,
                                                  float epsilon, int64_t bfloat16) {
  const auto dt = bfloat16 ? memory::data_type::bf16 : kF32;
  try {
    return static_cast<int64_t>(
        GetBatchNorm(n, h, w, c, epsilon, true, dt)->fwd_pd.workspace_desc().get_size());
  } catch (const dnnl::error& e) {
    return -1;
  }
}

// Which oneDNN implementations serve a shape (BENCHMARKS.md's layer table).
extern "C" const char* medaug_conv_impls(int64_t n, int64_t h, int64_t w, int64_t c,
                                         int64_t o, int64_t kh, int64_t kw, int64_t oh,
                                         int64_t ow, int64_t sh, int64_t sw, int64_t pt,
                                         int64_t pb, int64_t pl, int64_t pr) {
  thread_local std::string info;
  try {
    Conv* cv = GetConv(Geometry{n, h, w, c, o, kh, kw, oh, ow, sh, sw, pt, pb, pl, pr});
    info = std::string("forward ") + cv->fwd_pd.impl_info_str() + ", input grad " +
           cv->bwd_data_pd.impl_info_str() + ", kernel grad " + cv->bwd_w_pd.impl_info_str();
  } catch (const dnnl::error& e) {
    info = std::string("error: ") + e.what();
  }
  return info.c_str();
}
