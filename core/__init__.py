"""The lowest layer: settings and the pure rules every layer needs. Imports nothing of ours."""
