"""The ground floor, imported by every layer above: the error bad input raises (`errors`), where
third-party output goes (`logs`), and the PRNG keys (`prng`)."""
