// The serving layer: batch views on disk, versioned and published atomically, read by key, range,
// prefix and largest values (see serving/view_file.hpp and serving/view_store.hpp).
#pragma once

#include <dataflow/serving/view_file.hpp>
#include <dataflow/serving/view_store.hpp>
