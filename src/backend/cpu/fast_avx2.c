/* The AVX2 + FMA + F16C build of the x86 kernels (fast_x86.h), chosen at run time. */
#include "backend/cpu/fast_impl.h"
#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx,avx2,fma,f16c,bmi,bmi2")
#define FX_VNNI 0
#define FX_TABLE mlxn_fast_kernels_avx2
#include "backend/cpu/fast_x86.h"
#else
const mlxn_fast_kernels *mlxn_fast_kernels_avx2(void) { return NULL; }
#endif
