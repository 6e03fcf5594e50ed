// Verilator harness for vta_top: a DRAM model implementing vtac's memory timing
// (docs/timing-model.md, docs/rtl.md), run control, and result files.
//
// Usage: vtac_rtl_sim --insns FILE --dram FILE --out-dram FILE --counters FILE
//                     [--trace FILE] [--max-cycles N]
//   insns:    N instructions, 16 bytes each (two little-endian 64-bit words)
//   dram:     the initial DRAM image (bytes); the final image is written to --out-dram
//   counters: JSON {"status", "total_cycles", "counters": {name: value}}
//   trace:    one line per event: "D <cycle>" (fetch dispatch), "S <module> <cycle>" (start),
//             "E <module> <cycle>" (end = the cycle after the last one); modules 0 load,
//             1 compute, 2 store
// Exit status: 0 FINISH executed, 2 cycle limit reached, 3 deadlock (nothing can happen any
// more: no module busy, no burst or token in flight, no instruction dispatched or started for
// longer than a token takes to arrive), 1 error (message on stderr).
//
// DRAM model: each port has at most one burst in flight. A read burst requested in cycle c
// delivers beat k (bytes addr + k*BUS_BYTES ...) in cycle c + DRAM_LATENCY + k. A write beat is
// applied immediately; the response to a burst's last beat (cycle c) comes in cycle
// c + DRAM_LATENCY. Latency 0 is handled by re-evaluating the model within the cycle.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "Vvta_top.h"
#include "verilated.h"
#include "vta_params.h"

using namespace vta_params;

namespace {

constexpr int kBus = static_cast<int>(BUS_BYTES);
constexpr uint64_t kLatency = static_cast<uint64_t>(DRAM_LATENCY);

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "vtac_rtl_sim: %s\n", msg.c_str());
  std::exit(1);
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) die("cannot open " + path);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// ---- byte access to Verilator signals of any width -------------------------------------------
template <typename T>
void set_bytes(T& sig, const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < static_cast<int>(sizeof(T)) && i < kBus; ++i) v |= uint64_t(p[i]) << (8 * i);
  sig = static_cast<T>(v);
}
template <std::size_t W>
void set_bytes(VlWide<W>& sig, const uint8_t* p) {
  for (std::size_t w = 0; w < W; ++w) {
    uint32_t v = 0;
    for (int i = 0; i < 4 && int(w * 4 + i) < kBus; ++i) v |= uint32_t(p[w * 4 + i]) << (8 * i);
    sig[w] = v;
  }
}
template <typename T>
uint8_t get_byte(const T& sig, int i) {
  return static_cast<uint8_t>((uint64_t(sig) >> (8 * i)) & 0xff);
}
template <std::size_t W>
uint8_t get_byte(const VlWide<W>& sig, int i) {
  return static_cast<uint8_t>((sig[i / 4] >> (8 * (i % 4))) & 0xff);
}
template <typename T>
bool get_bit(const T& sig, int i) {
  return (uint64_t(sig) >> i) & 1;
}
template <std::size_t W>
bool get_bit(const VlWide<W>& sig, int i) {
  return (sig[i / 32] >> (i % 32)) & 1;
}

// ---- one read port of the DRAM model ------------------------------------------------------------
struct ReadPort {
  const char* name;
  const std::vector<uint8_t>* mem;
  bool check_bounds;  // DRAM ports: a beat starting past the image is an error
  bool pending = false;
  uint64_t t0 = 0, addr = 0, len = 0, beat = 0;
  bool delivering = false;

  // Drive valid/data for cycle `cycle`; returns whether a beat is delivered.
  template <typename D>
  bool drive(uint64_t cycle, uint8_t& valid, D& data) {
    delivering = pending && cycle >= t0 + kLatency;
    valid = delivering;
    if (delivering) {
      uint8_t buf[kBus];
      uint64_t a = addr + beat * kBus;
      for (int i = 0; i < kBus; ++i) buf[i] = (a + i < mem->size()) ? (*mem)[a + i] : 0;
      if (check_bounds && a >= mem->size())
        die(std::string(name) + " port read beyond the DRAM image at byte " + std::to_string(a) +
            " (image is " + std::to_string(mem->size()) + " bytes)");
      set_bytes(data, buf);
    }
    return delivering;
  }
  void request(uint64_t cycle, uint64_t a, uint64_t n) {
    if (pending) die(std::string(name) + " port: second burst requested while one is in flight");
    pending = true;
    t0 = cycle;
    addr = a;
    len = n;
    beat = 0;
  }
  void after_edge() {
    if (delivering && ++beat == len) pending = false;
    delivering = false;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string insns_path, dram_path, out_path, counters_path, trace_path;
  uint64_t max_cycles = 1ULL << 40;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--insns") insns_path = next();
    else if (a == "--dram") dram_path = next();
    else if (a == "--out-dram") out_path = next();
    else if (a == "--counters") counters_path = next();
    else if (a == "--trace") trace_path = next();
    else if (a == "--max-cycles") max_cycles = std::stoull(next());
    else if (a.rfind("+verilator", 0) == 0) continue;
    else die("unknown argument " + a);
  }
  if (insns_path.empty() || dram_path.empty() || out_path.empty() || counters_path.empty())
    die("usage: --insns F --dram F --out-dram F --counters F [--trace F] [--max-cycles N]");

  std::vector<uint8_t> insns = read_file(insns_path);
  std::vector<uint8_t> dram = read_file(dram_path);
  if (insns.size() % INSN_BYTES) die("instruction file size is not a multiple of 16");
  FILE* trace = nullptr;
  if (!trace_path.empty()) {
    trace = std::fopen(trace_path.c_str(), "w");
    if (!trace) die("cannot write " + trace_path);
  }

  auto ctx = std::make_unique<VerilatedContext>();
  ctx->commandArgs(argc, argv);
  auto top = std::make_unique<Vvta_top>(ctx.get());

  top->insn_count = static_cast<uint32_t>(insns.size() / INSN_BYTES);
  top->rst = 1;
  top->f_rd_valid = top->l_rd_valid = top->c_rd_valid = 0;
  top->s_wr_resp = 0;
  for (int i = 0; i < 2; ++i) {
    top->clk = 0;
    top->eval();
    top->clk = 1;
    top->eval();
  }
  top->rst = 0;

  ReadPort fetch{"fetch", &insns, false}, load{"load", &dram, true},
      compute{"compute", &dram, true};
  bool resp_pending = false;
  uint64_t resp_cycle = 0;
  uint64_t cycle = 0;
  bool finished = false, deadlock = false;
  uint64_t quiet = 0;  // consecutive cycles without any activity

  while (cycle < max_cycles) {
    fetch.drive(cycle, top->f_rd_valid, top->f_rd_data);
    load.drive(cycle, top->l_rd_valid, top->l_rd_data);
    compute.drive(cycle, top->c_rd_valid, top->c_rd_data);
    top->s_wr_resp = resp_pending && resp_cycle == cycle;
    top->clk = 0;
    top->eval();

    // New read requests (outputs depend on state only); latency 0 answers in this cycle.
    bool again = false;
    if (top->f_rd_req) fetch.request(cycle, top->f_rd_addr, top->f_rd_len), again = true;
    if (top->l_rd_req) load.request(cycle, top->l_rd_addr, top->l_rd_len), again = true;
    if (top->c_rd_req) compute.request(cycle, top->c_rd_addr, top->c_rd_len), again = true;
    if (again && kLatency == 0) {
      fetch.drive(cycle, top->f_rd_valid, top->f_rd_data);
      load.drive(cycle, top->l_rd_valid, top->l_rd_data);
      compute.drive(cycle, top->c_rd_valid, top->c_rd_data);
      top->eval();
    }
    if (top->s_wr_valid) {
      uint64_t a = top->s_wr_addr;
      for (int i = 0; i < kBus; ++i) {
        if (!get_bit(top->s_wr_strb, i)) continue;
        if (a + i >= dram.size())
          die("store port wrote beyond the DRAM image at byte " + std::to_string(a + i));
        dram[a + i] = get_byte(top->s_wr_data, i);
      }
      if (top->s_wr_last) {
        if (resp_pending) die("store port: second burst before the first one's response");
        resp_pending = true;
        resp_cycle = cycle + kLatency;
        if (kLatency == 0) {
          top->s_wr_resp = 1;
          top->eval();
        }
      }
    }
    if (top->s_wr_resp) resp_pending = false;
    finished = top->finish;
    bool activity = top->active || top->ev_dispatch || top->ev_start || top->ev_end ||
                    fetch.pending || load.pending || compute.pending || resp_pending ||
                    top->s_wr_valid;
    quiet = activity ? 0 : quiet + 1;
    if (quiet > static_cast<uint64_t>(TOKEN_LATENCY) + 2) {
      deadlock = true;
      break;
    }
    if (trace) {
      if (top->ev_dispatch) std::fprintf(trace, "D %llu\n", (unsigned long long)cycle);
      for (int m = 0; m < 3; ++m) {
        if ((top->ev_start >> m) & 1) std::fprintf(trace, "S %d %llu\n", m, (unsigned long long)cycle);
        if ((top->ev_end >> m) & 1)
          std::fprintf(trace, "E %d %llu\n", m, (unsigned long long)(cycle + 1));
      }
    }
    top->clk = 1;
    top->eval();
    fetch.after_edge();
    load.after_edge();
    compute.after_edge();
    ++cycle;
    if (finished) break;
  }
  top->final();
  if (trace) std::fclose(trace);

  {
    std::ofstream f(out_path, std::ios::binary);
    if (!f) die("cannot write " + out_path);
    f.write(reinterpret_cast<const char*>(dram.data()), static_cast<std::streamsize>(dram.size()));
  }
  FILE* c = std::fopen(counters_path.c_str(), "w");
  if (!c) die("cannot write " + counters_path);
  std::fprintf(c, "{\"status\": \"%s\", \"total_cycles\": %llu, \"counters\": {",
               finished ? "finished" : (deadlock ? "deadlock" : "cycle_limit"),
               (unsigned long long)cycle);
  for (int i = 0; i < static_cast<int>(N_COUNTERS); ++i) {
    uint64_t v = uint64_t(top->counters[2 * i]) | (uint64_t(top->counters[2 * i + 1]) << 32);
    std::fprintf(c, "%s\"%s\": %llu", i ? ", " : "", COUNTER_NAMES[i], (unsigned long long)v);
  }
  std::fprintf(c, "}}\n");
  std::fclose(c);
  return finished ? 0 : (deadlock ? 3 : 2);
}
