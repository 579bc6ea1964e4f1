"""Support code shared by every layer: where arrays live (:mod:`.arrays`), argument checks that name the argument
(:mod:`.validation`), and the result types the metrics return (:mod:`.results`)."""
