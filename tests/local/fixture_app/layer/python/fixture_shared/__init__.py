"""A tiny layer, deployed to exercise LayerVersion assets (the runtime never imports from a layer asset)."""
