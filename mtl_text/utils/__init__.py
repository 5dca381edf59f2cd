"""Small helpers shared by the library: atomic files and safetensors loading, logging set-up, and
the process's malloc settings, and the CPU's bf16 support."""
