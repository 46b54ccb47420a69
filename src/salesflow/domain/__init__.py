"""Pure domain code: records, validation rules, transforms. Standard library only, no I/O."""
