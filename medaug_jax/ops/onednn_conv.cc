// oneDNN's direct convolutions as XLA:CPU custom calls (FFI): NHWC input,
// HWIO kernel, float32; forward, input gradient and kernel gradient.
//
// XLA:CPU's own convolutions and our matmul rewrites of them (Winograd,
// im2col) pay memory passes that oneDNN's JIT kernels do not; these are the
// kernels torch uses on the same CPU (BENCHMARKS.md, "oneDNN convolutions").
// medaug_jax/ops/onednn.py compiles this file on first use.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using tag = dnnl::memory::format_tag;

namespace {

dnnl::engine& Engine() {
  static dnnl::engine* e = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *e;
}

// One convolution's shapes: input NHWC, output channels, kernel, output map,
// strides and padding (top, bottom, left, right).
struct Geometry {
  int64_t n, h, w, c, o, kh, kw, oh, ow, sh, sw, pt, pb, pl, pr;
  std::string Key() const {
    std::string k;
    for (int64_t v : {n, h, w, c, o, kh, kw, oh, ow, sh, sw, pt, pb, pl, pr})
      k += std::to_string(v) + ",";
    return k;
  }
};

struct Conv {
  memory::desc src, wei, dst;  // the caller's plain layouts
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd;
  dnnl::convolution_backward_weights::primitive_desc bwd_w_pd;
  dnnl::primitive fwd, bwd_data, bwd_w;
};

// Primitives are made once per shape (oneDNN JIT-compiles each) and kept.
Conv* Get(const Geometry& g) {
  static std::mutex mu;
  static auto* cache = new std::unordered_map<std::string, std::unique_ptr<Conv>>();
  std::lock_guard<std::mutex> lock(mu);
  const std::string key = g.Key();
  auto it = cache->find(key);
  if (it != cache->end()) return it->second.get();
  auto c = std::make_unique<Conv>();
  const auto f32 = memory::data_type::f32;
  // Activations stay in XLA's NHWC: reordering them would cost the memory
  // passes this file exists to avoid. The kernel is small, so oneDNN picks
  // its blocked layout ('any') and each call reorders it.
  c->src = memory::desc({g.n, g.c, g.h, g.w}, f32, tag::nhwc);
  c->wei = memory::desc({g.o, g.c, g.kh, g.kw}, f32, tag::hwio);
  c->dst = memory::desc({g.n, g.o, g.oh, g.ow}, f32, tag::nhwc);
  const memory::desc wei_any({g.o, g.c, g.kh, g.kw}, f32, tag::any);
  const memory::dims strides = {g.sh, g.sw}, dil = {0, 0};
  const memory::dims pad_l = {g.pt, g.pl}, pad_r = {g.pb, g.pr};
  const auto alg = dnnl::algorithm::convolution_direct;
  dnnl::primitive_attr attr;
  // Each call brings its own scratchpad: XLA may run two convolutions at
  // once (an input and a kernel gradient), and the library's shared one is
  // not safe for that.
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
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
  Conv* out = c.get();
  (*cache)[key] = std::move(c);
  return out;
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

Geometry Geo(ffi::Span<const int64_t> x, ffi::Span<const int64_t> w,
             ffi::Span<const int64_t> y, ffi::Span<const int64_t> strides,
             ffi::Span<const int64_t> pads) {
  return Geometry{x[0], x[1], x[2], x[3], w[3], w[0], w[1], y[1], y[2],
                  strides[0], strides[1], pads[0], pads[1], pads[2], pads[3]};
}

ffi::Error Failed(const dnnl::error& e) {
  return ffi::Error::Internal(std::string("oneDNN convolution failed: ") + e.what());
}

}  // namespace

ffi::Error ConvForward(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w,
                       ffi::ResultBuffer<ffi::F32> y, ffi::Span<const int64_t> strides,
                       ffi::Span<const int64_t> pads) {
  try {
    Conv* c = Get(Geo(x.dimensions(), w.dimensions(), y->dimensions(), strides, pads));
    dnnl::stream s(Engine());
    memory wm = AsLayout(s, Wrap(c->wei, w.typed_data()), c->fwd_pd.weights_desc());
    c->fwd.execute(s, {{DNNL_ARG_SRC, Wrap(c->src, x.typed_data())},
                       {DNNL_ARG_WEIGHTS, wm},
                       {DNNL_ARG_DST, Wrap(c->dst, y->typed_data())},
                       {DNNL_ARG_SCRATCHPAD, Scratch(c->fwd_pd)}});
    s.wait();
  } catch (const dnnl::error& e) {
    return Failed(e);
  }
  return ffi::Error::Success();
}

ffi::Error ConvInputGrad(ffi::Buffer<ffi::F32> dy, ffi::Buffer<ffi::F32> w,
                         ffi::ResultBuffer<ffi::F32> dx, ffi::Span<const int64_t> strides,
                         ffi::Span<const int64_t> pads) {
  try {
    Conv* c = Get(Geo(dx->dimensions(), w.dimensions(), dy.dimensions(), strides, pads));
    dnnl::stream s(Engine());
    memory wm = AsLayout(s, Wrap(c->wei, w.typed_data()), c->bwd_data_pd.weights_desc());
    c->bwd_data.execute(s, {{DNNL_ARG_DIFF_DST, Wrap(c->dst, dy.typed_data())},
                            {DNNL_ARG_WEIGHTS, wm},
                            {DNNL_ARG_DIFF_SRC, Wrap(c->src, dx->typed_data())},
                            {DNNL_ARG_SCRATCHPAD, Scratch(c->bwd_data_pd)}});
    s.wait();
  } catch (const dnnl::error& e) {
    return Failed(e);
  }
  return ffi::Error::Success();
}

ffi::Error ConvKernelGrad(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> dy,
                          ffi::ResultBuffer<ffi::F32> dw, ffi::Span<const int64_t> strides,
                          ffi::Span<const int64_t> pads) {
  try {
    Conv* c = Get(Geo(x.dimensions(), dw->dimensions(), dy.dimensions(), strides, pads));
    dnnl::stream s(Engine());
    memory user = Wrap(c->wei, dw->typed_data());
    const bool plain = c->bwd_w_pd.diff_weights_desc() == c->wei;
    memory out = plain ? user : memory(c->bwd_w_pd.diff_weights_desc(), Engine());
    c->bwd_w.execute(s, {{DNNL_ARG_SRC, Wrap(c->src, x.typed_data())},
                         {DNNL_ARG_DIFF_DST, Wrap(c->dst, dy.typed_data())},
                         {DNNL_ARG_DIFF_WEIGHTS, out},
                         {DNNL_ARG_SCRATCHPAD, Scratch(c->bwd_w_pd)}});
    if (!plain) dnnl::reorder(out, user).execute(s, out, user);
    s.wait();
  } catch (const dnnl::error& e) {
    return Failed(e);
  }
  return ffi::Error::Success();
}

#define MEDAUG_CONV_HANDLER(symbol, impl)                              \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(symbol, impl,                          \
                                ffi::Ffi::Bind()                       \
                                    .Arg<ffi::Buffer<ffi::F32>>()      \
                                    .Arg<ffi::Buffer<ffi::F32>>()      \
                                    .Ret<ffi::Buffer<ffi::F32>>()      \
                                    .Attr<ffi::Span<const int64_t>>("strides") \
                                    .Attr<ffi::Span<const int64_t>>("pads"))

MEDAUG_CONV_HANDLER(MedaugConvForward, ConvForward);
MEDAUG_CONV_HANDLER(MedaugConvInputGrad, ConvInputGrad);
MEDAUG_CONV_HANDLER(MedaugConvKernelGrad, ConvKernelGrad);

// Which oneDNN implementations serve a shape (BENCHMARKS.md's layer table).
extern "C" const char* medaug_conv_impls(int64_t n, int64_t h, int64_t w, int64_t c,
                                         int64_t o, int64_t kh, int64_t kw, int64_t oh,
                                         int64_t ow, int64_t sh, int64_t sw, int64_t pt,
                                         int64_t pb, int64_t pl, int64_t pr) {
  thread_local std::string info;
  try {
    Conv* cv = Get(Geometry{n, h, w, c, o, kh, kw, oh, ow, sh, sw, pt, pb, pl, pr});
    info = std::string("forward ") + cv->fwd_pd.impl_info_str() + ", input grad " +
           cv->bwd_data_pd.impl_info_str() + ", kernel grad " + cv->bwd_w_pd.impl_info_str();
  } catch (const dnnl::error& e) {
    info = std::string("error: ") + e.what();
  }
  return info.c_str();
}
