"""Build and cache the Debian 12 image the vm lab boots.

The image is made without loop devices or mounts of block devices: debootstrap into a directory,
customise it in a chroot (inside a private mount namespace, so nothing leaks on a crash), then
``mke2fs -d`` turns the directory into an ext4 file.  The kernel and initrd are copied out of /boot
so qemu can boot them directly with root=/dev/vda.

The result lives in ``/var/cache/netdebug-lab/vm-<hash>/`` where the hash covers the recipe
(``vm_image/``: package list, customise script, files baked in) and BUILD_FORMAT.  It is rebuilt
only when that hash changes.  The mirror is read from the machine's apt sources; it is not part of
the hash, so moving to another mirror does not force a rebuild.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .common import IMAGE_CACHE, LabError, all_pids, pid_cmdline

SUITE = 'bookworm'
RECIPE_DIR = Path(__file__).resolve().parent / 'vm_image'
CACHE_ROOT = Path(IMAGE_CACHE)
# Bump when a change in this file's build steps changes the image (the recipe files are hashed anyway).
BUILD_FORMAT = '1'
# Size of the ext4 file system the guests see; the file is sparse and each VM writes to its own overlay.
ROOTFS_SIZE = '4G'
APT_SOURCES = (Path('/etc/apt/sources.list'), Path('/etc/apt/sources.list.d'))
IMAGE_FILES = ('rootfs.ext4', 'vmlinuz', 'initrd.img', 'image.json')

# Mount only what update-initramfs and the maintainer scripts need, then run the recipe in the chroot.
_CHROOT_SCRIPT = (
    'set -eu; root=$1; shift; '
    'mount -t proc proc "$root/proc"; mount -t sysfs sysfs "$root/sys"; '
    'exec chroot "$root" "$@"'
)


class ImageError(LabError):
    """The image could not be built; the message says why and what to do."""


def recipe_hash() -> str:
    """Hash of every recipe file (name and content) and the build format."""
    digest = hashlib.sha256()
    digest.update(f'format={BUILD_FORMAT} suite={SUITE}\n'.encode())
    for path in sorted(p for p in RECIPE_DIR.rglob('*') if p.is_file()):
        digest.update(str(path.relative_to(RECIPE_DIR)).encode() + b'\0')
        digest.update(path.read_bytes() + b'\0')
    return digest.hexdigest()[:16]


def packages() -> list:
    """Package names from the recipe's package list (comments and blank lines skipped)."""
    names = []
    for line in (RECIPE_DIR / 'packages').read_text().splitlines():
        line = line.split('#', 1)[0].strip()
        if line:
            names.append(line)
    return names


def _one_line_sources(text: str):
    """Entries of a one-line-style sources.list: dicts with types, uris, suites, components, signed_by."""
    for line in text.splitlines():
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        options = {}
        match = re.match(r'^(\S+)\s+\[([^\]]*)\]\s+(.*)$', line)
        if match:
            kind, opts, rest = match.groups()
            for opt in opts.split():
                key, value = opt.split('=', 1) if '=' in opt else (opt, '')
                options[key.lower()] = value
        else:
            kind, rest = (line.split(None, 1) + [''])[:2]
        fields = rest.split()
        if len(fields) < 2:
            continue
        yield {'types': [kind], 'uris': [fields[0]], 'suites': [fields[1]], 'components': fields[2:],
               'signed_by': options.get('signed-by', ''), 'enabled': True}


def _deb822_sources(text: str):
    """Stanzas of a deb822 .sources file, as the same dicts as _one_line_sources."""
    for stanza in re.split(r'\n\s*\n', text):
        fields = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith('#'):
                continue
            if line[:1] in (' ', '\t') and key:
                fields[key] += '\n' + line.strip()
                continue
            key, sep, value = line.partition(':')
            if not sep:
                key = None
                continue
            key = key.strip().lower()
            fields[key] = value.strip()
        if 'uris' not in fields:
            continue
        yield {'types': fields.get('types', '').split(), 'uris': fields['uris'].split(),
               'suites': fields.get('suites', '').split(), 'components': fields.get('components', '').split(),
               'signed_by': fields.get('signed-by', ''),
               'enabled': fields.get('enabled', 'yes').lower() not in ('no', 'false', '0')}


def parse_sources(files: dict) -> list:
    """All entries of the given {path: text} apt sources, in order."""
    entries = []
    for path, text in files.items():
        parse = _deb822_sources if str(path).endswith('.sources') else _one_line_sources
        entries.extend(parse(text))
    return entries


def pick_mirror(entries: list, suite: str = SUITE) -> tuple:
    """(uri, keyring or '') of the first enabled deb entry serving SUITE main over http(s)/file."""
    for entry in entries:
        if not entry['enabled'] or 'deb' not in entry['types']:
            continue
        if suite not in entry['suites'] or 'main' not in entry['components']:
            continue
        for uri in entry['uris']:
            if re.match(r'^(https?|file):', uri):
                keyring = entry['signed_by'] if entry['signed_by'].startswith('/') else ''
                return uri.rstrip('/'), keyring
    raise ImageError(
        f'no apt source serves "{suite} main" over http(s) in /etc/apt/sources.list or /etc/apt/sources.list.d/; '
        f'add the Debian mirror this machine uses for {suite} (e.g. a deb822 .sources stanza with '
        f'"Suites: {suite}" and "Components: main")')


def host_mirror() -> tuple:
    """(uri, keyring) of the Debian mirror configured in this machine's apt sources."""
    files = {}
    main, directory = APT_SOURCES
    if main.is_file():
        files[main] = main.read_text(errors='replace')
    if directory.is_dir():
        for path in sorted(directory.iterdir()):
            if path.suffix in ('.list', '.sources') and path.is_file():
                files[path] = path.read_text(errors='replace')
    return pick_mirror(parse_sources(files))


def image_dir(digest: str = None) -> Path:
    """Cache directory of the image with this recipe hash (default: the current recipe)."""
    return CACHE_ROOT / f'vm-{digest or recipe_hash()}'


def cached_image(digest: str = None):
    """The image's metadata if a complete image for this recipe is cached, else None."""
    directory = image_dir(digest)
    if not all((directory / name).is_file() for name in IMAGE_FILES):
        return None
    meta = json.loads((directory / 'image.json').read_text())
    meta.update({name.replace('.', '_'): str(directory / name) for name in IMAGE_FILES})
    meta['dir'] = str(directory)
    return meta


@contextlib.contextmanager
def _cache_lock():
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(CACHE_ROOT / '.lock', 'w', encoding='ascii') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _step(log, argv: list, what: str):
    """Run one build step, output to the build log; on failure raise with the log's tail."""
    log.write(f'\n### {what}: {" ".join(argv)}\n')
    log.flush()
    env = dict(os.environ, LC_ALL='C', DEBIAN_FRONTEND='noninteractive')
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    if result.returncode != 0:
        log.flush()
        tail = Path(log.name).read_text(errors='replace').splitlines()[-30:]
        raise ImageError(f'VM image build failed at "{what}" (rc={result.returncode}); full log: {log.name}\n'
                         + '\n'.join(tail))


def _private_mounts(argv: list) -> list:
    """argv run in a private mount namespace: mounts it makes vanish with it, even on a crash."""
    return ['unshare', '--mount', '--propagation', 'private'] + argv


def _check_tools():
    missing = [tool for tool in ('debootstrap', 'mke2fs', 'unshare', 'chroot') if not shutil.which(tool)]
    if missing:
        raise ImageError(f'cannot build the VM image: {", ".join(missing)} not found; '
                         'install them with: apt-get install debootstrap e2fsprogs util-linux coreutils')


def _no_mounts_under(path: Path):
    """Refuse to delete a tree something is still mounted in (a build killed outside its namespace)."""
    prefix = str(path.resolve()) + '/'
    with open('/proc/self/mountinfo', encoding='utf-8') as mountinfo:
        for line in mountinfo:
            point = line.split()[4]
            if point.startswith(prefix):
                raise ImageError(f'{point} is still mounted; unmount it (umount -R {path}) and retry')


def _build(digest: str, progress) -> None:
    _check_tools()
    mirror, keyring = host_mirror()
    work = CACHE_ROOT / f'.build-{digest}'
    if work.exists():
        _no_mounts_under(work)
        shutil.rmtree(work)
    root, out = work / 'root', work / 'out'
    out.mkdir(parents=True)
    started = time.monotonic()
    with open(work / 'build.log', 'w', encoding='utf-8') as log:
        progress(f'building the VM image {digest} from {mirror} (log: {log.name}); this takes a few minutes')
        argv = ['debootstrap', '--variant=minbase', '--components=main', '--include=' + ','.join(packages())]
        if keyring and Path(keyring).is_file():
            argv.append('--keyring=' + keyring)
        _step(log, _private_mounts(argv + [SUITE, str(root), mirror]), 'debootstrap')
        shutil.copytree(RECIPE_DIR, root / 'tmp/ndlab-recipe')
        _step(log, _private_mounts(['sh', '-c', _CHROOT_SCRIPT, 'sh', str(root),
                                    '/bin/sh', '/tmp/ndlab-recipe/customize.sh', '/tmp/ndlab-recipe']), 'customize')
        shutil.rmtree(root / 'tmp/ndlab-recipe')
        kernels = sorted((root / 'boot').glob('vmlinuz-*'))
        if len(kernels) != 1:
            raise ImageError(f'expected one kernel in the image /boot, found {[k.name for k in kernels]}')
        release = kernels[0].name[len('vmlinuz-'):]
        shutil.copyfile(kernels[0], out / 'vmlinuz')
        shutil.copyfile(root / f'boot/initrd.img-{release}', out / 'initrd.img')
        _step(log, ['mke2fs', '-q', '-F', '-t', 'ext4', '-m', '0', '-L', 'ndlabroot', '-d', str(root),
                    str(out / 'rootfs.ext4'), ROOTFS_SIZE], 'mke2fs')
    meta = {'recipe_hash': digest, 'suite': SUITE, 'kernel_release': release, 'mirror': mirror,
            'packages': packages(), 'build_seconds': round(time.monotonic() - started, 1),
            'built_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}
    (out / 'image.json').write_text(json.dumps(meta, indent=2) + '\n')
    shutil.move(str(work / 'build.log'), str(out / 'build.log'))
    shutil.rmtree(root)
    final = image_dir(digest)
    if final.exists():
        shutil.rmtree(final)
    out.rename(final)
    shutil.rmtree(work)
    progress(f'VM image {digest} built in {meta["build_seconds"]} s')


def _in_use(directory: Path) -> bool:
    """True when a running process (a VM's qemu) names a file of this image on its command line."""
    prefix = str(directory) + '/'
    return any(arg.startswith(prefix) or ('=' + prefix) in arg
               for pid in all_pids() for arg in pid_cmdline(pid))


def prune(keep: list) -> list:
    """Remove cached images other than those in keep (hashes) that no running VM uses; returns what was removed."""
    removed = []
    if not CACHE_ROOT.is_dir():
        return removed
    for path in CACHE_ROOT.glob('vm-*'):
        if path.is_dir() and path.name[len('vm-'):] not in keep and not _in_use(path):
            shutil.rmtree(path)
            removed.append(str(path))
    return removed


def _stderr(message: str):
    print(f'lab: {message}', file=sys.stderr, flush=True)


def ensure_image(progress=_stderr, keep: list = ()) -> dict:
    """Metadata (paths of rootfs_ext4, vmlinuz, initrd_img; kernel_release...) of the current image, built if needed.

    Concurrent callers wait on a lock so only one builds.  Images of older recipes are removed after a
    build unless their hash is in keep or a running VM uses them.
    """
    digest = recipe_hash()
    meta = cached_image(digest)
    if meta:
        return meta
    with _cache_lock():
        meta = cached_image(digest)
        if meta:
            return meta
        _build(digest, progress)
        prune([digest] + list(keep))
    return cached_image(digest)


def main(argv: list = None) -> int:
    """``python -m labkit.image [build|hash|path]``: build (if needed) and print the image directory."""
    command = (argv if argv is not None else sys.argv[1:] or ['build'])[0]
    if command == 'hash':
        print(recipe_hash())
    elif command == 'path':
        meta = cached_image()
        print(meta['dir'] if meta else '')
        return 0 if meta else 1
    elif command == 'build':
        print(ensure_image()['dir'])
    else:
        print(f'usage: {sys.argv[0]} [build|hash|path]', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
