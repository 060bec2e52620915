{
  "targets": [
    {
      "target_name": "socktool",
      "sources": [
        "socktool.c",
        "helpers.c",
        "calls.c",
        "options.c",
        "pool.c",
        "backlog.c",
        "handle.c",
        "loadgen.c"
      ],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
