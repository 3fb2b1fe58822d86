{
  "targets": [
    {
      "target_name": "evolver",
      "sources": [
        "cpp/addon.cc",
        "cpp/mapping.cc",
        "cpp/napi_mapped_file.cc",
        "cpp/cpu_features.cc",
        "cpp/napi_backends.cc",
        "cpp/cuda_absent.cc",
        "cpp/scan.cc",
        "cpp/napi_scan.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O3", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror=return-type", "-fexceptions"],
      "cflags": ["-O3", "-ffp-contract=off"]
    }
  ]
}
