"""Built-in task definitions, one file per task; installed as ``mtl_text.builtin_tasks``.

Each module registers its task on import. A user's own task file looks just like these.
"""
