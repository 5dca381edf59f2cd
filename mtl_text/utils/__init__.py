"""Small helpers shared by the library: atomic files and safetensors loading, logging set-up,
the process's malloc settings, the CPU's bf16 support, the environment report for bug reports, and lazy chunks of a stream."""
