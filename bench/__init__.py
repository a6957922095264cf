"""`make bench`: the figures DESIGN.md asks for, printed as one table and kept as JSON in bench/results/.

Figures, not assertions: the goal column says what we aim for, and nothing fails when a figure misses it.
Each section runs in its own Python process (`python -m bench.section NAME`), so moto's patches, the
composition root and the environment of one section cannot bend the figures of another.
"""
