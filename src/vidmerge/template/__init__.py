"""Template bundles: the manifest, the bundle on disk, zip safety, media probing and fonts."""
