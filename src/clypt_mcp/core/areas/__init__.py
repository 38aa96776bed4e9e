"""The use cases of ClyptService by area; core.service joins them into the one façade."""
