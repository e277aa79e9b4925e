"""Recipe1M-format data: the streaming reader of the real release and the synthetic mini dataset."""
