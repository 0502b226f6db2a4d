#include "oneapi/dnnl/dnnl.hpp"
#include <cstdio>
#include <vector>
#include <chrono>
using namespace dnnl; using tag=memory::format_tag;
int main(){
 engine e(engine::kind::cpu,0); stream s(e);
 int n=128,c=64,h=28,w=28;
 auto d=memory::desc({n,c,h,w},memory::data_type::f32,tag::nhwc);
 for (int mode=0; mode<3; ++mode){
 auto flags=normalization_flags::use_scale|normalization_flags::use_shift;
 if(mode==1) flags=flags|normalization_flags::fuse_norm_relu;
 if(mode==2) flags=flags|normalization_flags::fuse_norm_add_relu;
 try{
  auto f=batch_normalization_forward::primitive_desc(e,prop_kind::forward_training,d,d,1e-5f,flags);
  auto b=batch_normalization_backward::primitive_desc(e,prop_kind::backward,d,d,d,1e-5f,flags,f);
  printf("mode %d fwd %s bwd %s ws %zu\n",mode,f.impl_info_str(),b.impl_info_str(),f.workspace_desc().get_size());
  memory x(d,e),y(d,e),r(d,e),dy(d,e),dx(d,e),dr(d,e); auto sd=memory::desc({c},memory::data_type::f32,tag::a);
  memory sc(sd,e),sh(sd,e),m(sd,e),v(sd,e),dsc(sd,e),dsh(sd,e); memory ws(f.workspace_desc(),e);
  float* xp=(float*)x.get_data_handle(); for(long i=0;i<(long)n*c*h*w;++i){xp[i]=(i%17)*0.1f; ((float*)r.get_data_handle())[i]=(i%5)*0.1f-0.2f; ((float*)dy.get_data_handle())[i]=(i%7)*0.1f-0.3f;}
  for(int i=0;i<c;++i){((float*)sc.get_data_handle())[i]=1;((float*)sh.get_data_handle())[i]=0;}
  batch_normalization_forward F(f); batch_normalization_backward B(b);
  std::unordered_map<int,memory> fa={{DNNL_ARG_SRC,x},{DNNL_ARG_DST,y},{DNNL_ARG_SCALE,sc},{DNNL_ARG_SHIFT,sh},{DNNL_ARG_MEAN,m},{DNNL_ARG_VARIANCE,v},{DNNL_ARG_WORKSPACE,ws}};
  if(mode==2) fa[DNNL_ARG_SRC_1]=r;
  std::unordered_map<int,memory> ba={{DNNL_ARG_SRC,x},{DNNL_ARG_DIFF_DST,dy},{DNNL_ARG_SCALE,sc},{DNNL_ARG_MEAN,m},{DNNL_ARG_VARIANCE,v},{DNNL_ARG_DIFF_SRC,dx},{DNNL_ARG_DIFF_SCALE,dsc},{DNNL_ARG_DIFF_SHIFT,dsh},{DNNL_ARG_WORKSPACE,ws}};
  if(mode==2) ba[DNNL_ARG_DIFF_SRC_1]=dr;
  for(int it=0;it<3;++it){F.execute(s,fa);B.execute(s,ba);} s.wait();
  auto t0=std::chrono::steady_clock::now();
  for(int it=0;it<20;++it){F.execute(s,fa);B.execute(s,ba);} s.wait();
  auto t1=std::chrono::steady_clock::now();
  printf("  %.2f ms fwd+bwd\n", std::chrono::duration<double,std::milli>(t1-t0).count()/20);
 }catch(error&er){printf("mode %d: %s\n",mode,er.what());}
 }
}
