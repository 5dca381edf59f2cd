"""Small helpers shared by the library: atomic files and safetensors loading, logging set-up,
the process's malloc settings, the CPU's bf16 support, and lazy chunks of a stream."""
