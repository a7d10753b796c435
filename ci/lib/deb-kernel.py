"""Takes what ci/appliance needs out of a Debian linux-image .deb, without dpkg and without
unpacking the whole module tree (300 MB for arm64): the kernel image, and the named modules
with every module they depend on (the `depends=` field of each .ko's .modinfo section, the
same field modprobe reads), in load order.

Usage: deb-kernel.py DEB OUT_DIR MODULE...
Writes OUT_DIR/vmlinuz, OUT_DIR/modules/<name>.ko and OUT_DIR/modules.order (one file name a
line, dependencies first). A named module that this kernel has built in (modules.builtin) is
left out; one that is neither a module nor built in fails.
"""
import lzma
import os
import subprocess
import sys
import tarfile


def fsys_tar(deb):
    """The data tarball of DEB as a stream (dpkg-deb --fsys-tarfile), and its process."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
    return proc, tarfile.open(fileobj=proc.stdout, mode="r|")


def module_name(path):
    base = os.path.basename(path)
    for ext in (".ko", ".ko.xz"):
        if base.endswith(ext):
            return base[: -len(ext)].replace("-", "_")
    return None


def ko_bytes(path, data):
    if path.endswith(".ko.xz"):
        return lzma.decompress(data)
    return data


def modinfo_depends(ko):
    """The depends= names of a module (its .modinfo strings are NUL-separated key=value)."""
    for field in ko.split(b"\0"):
        if field.startswith(b"depends="):
            return [d.replace("-", "_") for d in field[8:].decode().split(",") if d]
    return []


def main():
    deb, out, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(os.path.join(out, "modules"), exist_ok=True)
    # Pass 1: the kernel image, modules.builtin and every module's dependencies.
    deps, paths, builtin, vmlinuz = {}, {}, set(), None
    proc, tar = fsys_tar(deb)
    for m in tar:
        if not m.isfile():
            continue
        name = m.name
        if name.startswith("./boot/vmlinu"):
            vmlinuz = os.path.join(out, "vmlinuz")
            with open(vmlinuz, "wb") as f:
                f.write(tar.extractfile(m).read())
        elif name.endswith("/modules.builtin"):
            for line in tar.extractfile(m).read().decode().split():
                builtin.add(module_name(line))
        elif module_name(name):
            ko = ko_bytes(name, tar.extractfile(m).read())
            deps[module_name(name)] = modinfo_depends(ko)
            paths[module_name(name)] = name
    proc.wait()
    if vmlinuz is None:
        sys.exit(f"{deb}: no ./boot/vmlinu* in the package")

    order, seen = [], set()

    def visit(mod, chain):
        if mod in seen:
            return
        if mod not in deps:
            if mod in builtin:
                seen.add(mod)
                return
            sys.exit(f"{deb}: module {mod} (needed by {' <- '.join(chain) or 'ci/appliance'}) "
                     "is neither a module nor built in")
        seen.add(mod)
        for d in deps[mod]:
            visit(d, [mod] + chain)
        order.append(mod)

    for w in wanted:
        visit(w.replace("-", "_"), [])

    # Pass 2: the modules in `order`.
    need = {paths[m]: m for m in order}
    proc, tar = fsys_tar(deb)
    for m in tar:
        if m.name in need:
            data = ko_bytes(m.name, tar.extractfile(m).read())
            with open(os.path.join(out, "modules", need[m.name] + ".ko"), "wb") as f:
                f.write(data)
    proc.wait()
    with open(os.path.join(out, "modules.order"), "w") as f:
        for m in order:
            f.write(m + ".ko\n")
    built_in = [w for w in wanted if w.replace("-", "_") not in order]
    print(f"modules: {' '.join(order) or 'none'}"
          + (f"; built in: {' '.join(built_in)}" if built_in else ""))


main()
