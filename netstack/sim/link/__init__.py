"""Link models: each direction is serializer -> queue -> propagation -> impairments."""
