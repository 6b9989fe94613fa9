"""One target's check, and "run these targets once" as a plain function."""
