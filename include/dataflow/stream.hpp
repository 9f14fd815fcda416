// The speed layer: streams of micro-batches through the batch operators, with event time and
// keyed state across batches. Include this header (after or instead of <dataflow/dataflow.hpp>)
// to use ctx.stream(...).
#pragma once

#include <dataflow/dataflow.hpp>
#include <dataflow/stream/checkpoint_store.hpp>
#include <dataflow/stream/dead_letters.hpp>
#include <dataflow/stream/epoch_files.hpp>
#include <dataflow/stream/follow_lines.hpp>
#include <dataflow/stream/push_source.hpp>
#include <dataflow/stream/stdin_lines.hpp>
#include <dataflow/stream/stream.hpp>
#include <dataflow/stream/stream_stats.hpp>
#include <dataflow/stream/windows.hpp>
