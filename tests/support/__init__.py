"""What the tests share: helpers (servers, archives, scons runs), the stand-in toolchain (standin, standin_cold,
coldrun), a real nginx (nginx), wasm section reading (wasm_sections), and the offline guard (offline_guard/, put on
PYTHONPATH of every scons or pip process an offline test starts)."""
