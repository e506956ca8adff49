/* The AVX-512 (F, BW, DQ, VL) + VNNI build of the x86 kernels (fast_x86.h): vpdpbusd on
 * 256-bit vectors, which avoids both the int16 saturation of maddubs and 512-bit clock
 * penalties; chosen at run time. */
#include "backend/cpu/fast_impl.h"
#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx,avx2,fma,f16c,bmi,bmi2,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")
#define FX_VNNI 1
#define FX_TABLE mlxn_fast_kernels_avx512
#include "backend/cpu/fast_x86.h"
#else
const mlxn_fast_kernels *mlxn_fast_kernels_avx512(void) { return NULL; }
#endif
