// The serving layer: batch views on disk, versioned and published atomically, read by key, range,
// prefix and largest values (serving/view_file.hpp, serving/view_store.hpp), merged with a
// stream's speed layer (serving/serving_view.hpp).
#pragma once

#include <dataflow/serving/view_file.hpp>
#include <dataflow/serving/view_store.hpp>
#include <dataflow/serving/serving_view.hpp>
#include <dataflow/serving/lambda_job.hpp>
