"""Small helpers shared by the library: atomic files and safetensors loading, logging set-up, and
the process's malloc settings, OpenMP's wait policy for prediction, and the CPU's bf16 support."""
