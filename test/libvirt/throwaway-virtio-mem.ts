// A throwaway domain with a virtio-mem device for the real-daemon tests: no disk, no OS (QEMU under
// TCG boots from nothing in about a second), 128 MiB of boot memory in one NUMA cell and a 256 MiB
// device of 2 MiB blocks with nothing requested. Without a guest driver nothing is ever plugged.

/** The domain XML; `balloon` adds a virtio balloon (else `<memballoon model='none'/>`). */
export function throwawayVirtioMemXml(name: string, opts: { balloon?: boolean } = {}): string {
  return `<domain type='qemu'>
  <name>${name}</name>
  <maxMemory slots='2' unit='MiB'>1024</maxMemory>
  <memory unit='MiB'>128</memory>
  <currentMemory unit='MiB'>128</currentMemory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='network'/></os>
  <cpu><numa><cell id='0' cpus='0' memory='128' unit='MiB'/></numa></cpu>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <memory model='virtio-mem'>
      <target><size unit='MiB'>256</size><node>0</node><block unit='MiB'>2</block><requested unit='MiB'>0</requested></target>
    </memory>
    <memballoon model='${opts.balloon ? 'virtio' : 'none'}'/>
  </devices>
</domain>`;
}
