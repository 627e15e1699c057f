"""srcnn: restore detail in photos with SRCNN."""
