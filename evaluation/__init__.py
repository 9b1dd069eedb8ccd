"""Quality harnesses (labelled sets → scores): development tools, not part of the installed runtime."""
