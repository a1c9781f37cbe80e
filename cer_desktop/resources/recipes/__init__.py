"""Example training recipes (package data): stage 1 basic, stage 2 compound."""
