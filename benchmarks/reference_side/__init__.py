"""The reference side of the side-by-side benchmark. Runs in the reference's Python, never imports
Timbrel, and imports the reference code from the work tree it is given (nothing of it is copied here).

Each workload module has ``WORKLOADS``: name -> ``setup(**params)``, which loads the files Timbrel wrote
and returns ``round(output: Path) -> split`` (seconds by stage; the output saved as .npy)."""
