"""Model kinds that exist only for the tests: each proves a kind plugs in through the seam alone."""
