"""Run directories: created, locked and never stranded (`rundirs`), what each result writes
(`results`), figures, experiment tracking, and the checks made before a command starts.

Imports every layer below it and nothing from `cli`."""
