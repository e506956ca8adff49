/* The CUDA backend's registration with the backend layer: backend.c includes this header when
 * the library is built with CUDA, and then references the hooks declared in backend.h
 * (mlxn_cuda_device_count, mlxn_cuda_device_info, mlxn_cuda_backend_vtbl). */
#ifndef MLXN_BACKEND_CUDA_BACKEND_H
#define MLXN_BACKEND_CUDA_BACKEND_H
#include "backend/backend.h"
#endif
