"""Providers: one module per API behind one ``generate()`` seam, plus templates."""
