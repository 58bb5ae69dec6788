"""The inference engine: tiling geometry and the batched, tiled model loop."""
