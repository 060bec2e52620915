{
  "targets": [
    {
      "target_name": "socktool",
      "sources": ["src/native/socktool.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
