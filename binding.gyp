{
  "targets": [
    {
      "target_name": "socktool",
      "sources": [
        "src/native/socktool.c",
        "src/native/helpers.c",
        "src/native/calls.c",
        "src/native/options.c",
        "src/native/pool.c",
        "src/native/backlog.c",
        "src/native/handle.c",
        "src/native/loadgen.c"
      ],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
