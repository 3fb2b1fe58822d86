{
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags!": ["-fno-exceptions", "-O2", "-O3"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "cflags": ["-O3", "-ffp-contract=off", "-fno-fast-math"],
    "cflags_cc": ["-std=c++17", "-O3", "-ffp-contract=off", "-fno-fast-math", "-Wall", "-Wextra", "-Werror=return-type", "-fexceptions"]
  },
  "targets": [
    {
      "target_name": "evolver_avx2",
      "type": "static_library",
      "sources": ["cpp/kernels/avx2.cc"],
      "conditions": [["target_arch=='x64'", { "cflags_cc": ["-mavx2", "-mfma", "-mf16c"] }]]
    },
    {
      "target_name": "evolver_avx512",
      "type": "static_library",
      "sources": ["cpp/kernels/avx512.cc"],
      "conditions": [["target_arch=='x64'", { "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma", "-mf16c", "-Wno-maybe-uninitialized", "-Wno-uninitialized"] }]]
    },
    {
      "target_name": "evolver",
      "dependencies": ["evolver_avx2", "evolver_avx512"],
      "include_dirs": ["<!(node cpp/find-eigen.cjs)"],
      "sources": [
        "cpp/addon.cc",
        "cpp/mapping.cc",
        "cpp/sigbus.cc",
        "cpp/napi_mapped_file.cc",
        "cpp/cpu_features.cc",
        "cpp/napi_backends.cc",
        "cpp/cuda_absent.cc",
        "cpp/thread_pool.cc",
        "cpp/kernels/scalar.cc",
        "cpp/kernels/dispatch.cc",
        "cpp/kernels/l1_scale.cc",
        "cpp/kernels/della_mask.cc",
        "cpp/kernels/ram_scale.cc",
        "cpp/kernels/sce_setup.cc",
        "cpp/kernels/fusion_mask.cc",
        "cpp/napi_kernels.cc",
        "cpp/napi_stream.cc",
        "cpp/napi_cuda.cc",
        "cpp/napi_nll.cc",
        "cpp/napi_fs.cc",
        "cpp/napi_hash.cc",
        "cpp/napi_regmean.cc"
      ]
    }
  ]
}
