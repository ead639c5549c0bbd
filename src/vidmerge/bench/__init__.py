"""`vidmerge bench` (R30 and its baselines, side by side), the load and viewer tools it uses,
and the demo template with its generated base clip."""
