// The 3x3 convolution alone, oneDNN 3.2, best of 5 after a warm-up. Build and run:
//   g++ -O2 -std=c++17 conv_alone.cc -I.venv/include -L.venv/lib -ldnnl -o /tmp/conv_alone
//   LD_LIBRARY_PATH=.venv/lib /tmp/conv_alone 28 64 64 1 0   # H C O stride blocked
#include <chrono>
#include <cstdio>
#include <vector>
#include <cstdlib>
#include "oneapi/dnnl/dnnl.hpp"
using namespace dnnl; using tag = memory::format_tag; using dt = memory::data_type;
static double now(){return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();}
template<class F> double timeit(F f, int reps=5){ f(); double best=1e9; for(int r=0;r<reps;r++){double t=now(); f(); double d=now()-t; if(d<best)best=d;} return best*1e3; }
int main(int argc,char**argv){
  int N=128,H=atoi(argv[1]),C=atoi(argv[2]),O=atoi(argv[3]),S=atoi(argv[4]); bool blocked=atoi(argv[5]);
  int OH=(H-1)/S+1;
  engine eng(engine::kind::cpu,0); stream s(eng);
  memory::desc src_u({N,C,H,H},dt::f32,tag::nhwc), dst_u({N,O,OH,OH},dt::f32,tag::nhwc);
  memory::desc src_a({N,C,H,H},dt::f32,blocked?tag::any:tag::nhwc), dst_a({N,O,OH,OH},dt::f32,blocked?tag::any:tag::nhwc);
  memory::desc wa({O,C,3,3},dt::f32,tag::any);
  memory::dims st={S,S}, dil={0,0}, pl={1,1}, pr={1,1};
  auto fpd=convolution_forward::primitive_desc(eng,prop_kind::forward_training,algorithm::convolution_direct,src_a,wa,dst_a,st,dil,pl,pr);
  auto bdpd=convolution_backward_data::primitive_desc(eng,algorithm::convolution_direct,src_a,wa,dst_a,st,dil,pl,pr,fpd);
  auto bwpd=convolution_backward_weights::primitive_desc(eng,algorithm::convolution_direct,src_a,wa,dst_a,st,dil,pl,pr,fpd);
  printf("impl fwd %s bwdd %s bwdw %s\n",fpd.impl_info_str(),bdpd.impl_info_str(),bwpd.impl_info_str());
  memory src(fpd.src_desc(),eng), dst(fpd.dst_desc(),eng), w(fpd.weights_desc(),eng), dsrc(bdpd.diff_src_desc(),eng), ddst(bwpd.diff_dst_desc(),eng), dw(bwpd.diff_weights_desc(),eng);
  memory srcu(src_u,eng), dstu(dst_u,eng);
  for (auto* m : {&src,&dst,&w,&dsrc,&ddst,&dw,&srcu,&dstu}) { float* p=(float*)m->get_data_handle(); size_t n=m->get_desc().get_size()/4; for(size_t i=0;i<n;i++) p[i]=(rand()%100)/100.f-0.5f; }
  convolution_forward f(fpd); convolution_backward_data bd(bdpd); convolution_backward_weights bw(bwpd);
  double tf=timeit([&]{f.execute(s,{{DNNL_ARG_SRC,src},{DNNL_ARG_WEIGHTS,w},{DNNL_ARG_DST,dst}});s.wait();});
  double td=timeit([&]{bd.execute(s,{{DNNL_ARG_DIFF_DST,ddst},{DNNL_ARG_WEIGHTS,w},{DNNL_ARG_DIFF_SRC,dsrc}});s.wait();});
  double tw=timeit([&]{bw.execute(s,{{DNNL_ARG_SRC,src},{DNNL_ARG_DIFF_DST,ddst},{DNNL_ARG_DIFF_WEIGHTS,dw}});s.wait();});
  double tr=0; if(blocked){ tr=timeit([&]{reorder(srcu,src).execute(s,srcu,src); s.wait();}); }
  double gf=2.0*N*OH*OH*O*C*9/1e9;
  printf("H%d C%d O%d S%d %s: fwd %.1f ms (%.0f GF/s) bwdd %.1f (%.0f) bwdw %.1f (%.0f) total %.1f; reorder src %.1f ms\n",H,C,O,S,blocked?"blocked":"nhwc",tf,gf/tf*1e3,td,gf/td*1e3,tw,gf/tw*1e3,tf+td+tw,tr);
}
