# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes objects the user gives (`kubectl get pods,services,networkpolicies -A -o json`): pods and services
by address, and the policies behind Calico chains whose names Felix hashed. Pure but for load()."""

from __future__ import annotations

import base64
import hashlib
import json

from ansible_collections.netdebug.netfilter.plugins.module_utils._core.errors import ParameterError

# Felix (libcalico-go hashutils.GetLengthLimitedID): a chain name longer than this keeps its prefix and puts "_"
# and the URL-safe base64 of the SHA-256 of the rest, cut to fit.
CHAIN_NAME_MAX = 28
HASH_MARK = '_'
POLICY_PREFIXES = ('cali-pi-', 'cali-po-')
# Calico's CNI names a pod's host-side interface "cali" and the first 11 hex digits of the SHA-1 of
# "<namespace>.<pod>" (libcalico-go VethNameForWorkload; FELIX_INTERFACEPREFIX can change "cali")
WORKLOAD_PREFIX = 'cali'
MAX_BYTES = 256 * 1024 * 1024  # a cluster's objects as JSON; more is a mistake (a node's whole disk, say)


def length_limited_id(prefix, suffix, max_length=CHAIN_NAME_MAX):
    """The chain name Felix gives prefix + suffix: as is when it fits, else prefix, '_' and a hash of suffix."""
    if len(prefix) + len(suffix) > max_length or (len(prefix) + len(suffix) == max_length
                                                  and suffix.startswith(HASH_MARK)):
        digest = base64.urlsafe_b64encode(hashlib.sha256(suffix.encode('utf-8')).digest()).decode('ascii')
        return prefix + HASH_MARK + digest.rstrip('=')[:max_length - 1 - len(prefix)]
    return prefix + suffix


def workload_interface(namespace, pod, prefix=WORKLOAD_PREFIX):
    """The host-side interface Calico gives a pod."""
    return prefix + hashlib.sha1(('%s.%s' % (namespace, pod)).encode('utf-8')).hexdigest()[:11]


def policy_ids(kind, namespace, name):
    """The names Felix versions have given a policy's chains (after the cali-pi-/cali-po- prefix): Felix 3.30 and
    later "<short kind>/<namespace>/<name>", earlier "<namespace>/knp.default.<name>" for a Kubernetes policy (and
    "<namespace>/<name>" for Calico's), with the tier in front before that."""
    if kind == 'KubernetesNetworkPolicy':
        older = 'knp.default.%s' % name
        ids = ['knp/%s/%s' % (namespace, name), '%s/%s' % (namespace, older), 'default/%s/%s' % (namespace, older)]
    elif kind == 'NetworkPolicy':
        ids = ['np/%s/%s' % (namespace, name), '%s/%s' % (namespace, name), 'default/%s/%s' % (namespace, name)]
    else:  # GlobalNetworkPolicy
        ids = ['gnp/%s' % name, name, 'default/%s' % name]
    return ids


class Objects:
    """pods and services by IP, and policy chain names (hashed or not) to policies."""

    def __init__(self, items, source='objects'):
        self.source = source
        self.pods = {}       # ip -> {'namespace', 'name', 'node'}
        self.services = {}   # cluster ip -> {'namespace', 'name'}
        self.policies = {}   # chain name -> {'kind', 'namespace', 'name'}
        self.interfaces = {}  # Calico workload interface -> pod
        self.counts = {'pods': 0, 'services': 0, 'policies': 0}
        for item in items:
            if isinstance(item, dict):
                self._add(item)

    def _add(self, item):
        kind, meta = item.get('kind'), item.get('metadata') or {}
        namespace, name = meta.get('namespace'), meta.get('name')
        spec, status = item.get('spec') or {}, item.get('status') or {}
        if not name:
            return
        if kind == 'Pod' and not spec.get('hostNetwork'):  # a host-network pod has the node's address
            self.counts['pods'] += 1
            pod = {'namespace': namespace, 'name': name, 'node': spec.get('nodeName')}
            ips = [entry.get('ip') for entry in status.get('podIPs') or [] if isinstance(entry, dict)]
            # a finished pod (a Job's) keeps its address in the listing after a running pod has it again
            if status.get('phase') not in ('Succeeded', 'Failed'):
                for ip in ips + [status.get('podIP')]:
                    if ip:
                        self.pods[ip] = pod
            self.interfaces[workload_interface(namespace, name)] = pod
        elif kind == 'Service':
            self.counts['services'] += 1
            for ip in (spec.get('clusterIPs') or []) + [spec.get('clusterIP')]:
                if ip and ip != 'None':
                    self.services[ip] = {'namespace': namespace, 'name': name}
        elif kind in ('NetworkPolicy', 'GlobalNetworkPolicy'):
            self.counts['policies'] += 1
            api = item.get('apiVersion') or ''
            which = 'KubernetesNetworkPolicy' if api.startswith('networking.k8s.io/') else kind
            found = {'kind': which, 'namespace': namespace, 'name': name}
            for chain_id in policy_ids(which, namespace, name):
                for prefix in POLICY_PREFIXES:
                    self.policies[length_limited_id(prefix, chain_id)] = found

    def pod(self, address):
        """{'namespace', 'name', 'node'} of the pod with that IP (an 'ip:port' or '[ip6]:port' too), or None."""
        return self.pods.get(_ip(address))

    def pod_on(self, interface):
        """The pod behind a Calico workload interface, or None."""
        return self.interfaces.get(interface)

    def service(self, address):
        return self.services.get(_ip(address))

    def policy(self, chain):
        return self.policies.get(chain)


def _ip(address):
    text = str(address or '')
    if text.startswith('['):
        return text[1:text.find(']')]
    return text.rsplit(':', 1)[0] if text.count(':') == 1 else text


def parse(text, source, param='k8s_objects'):
    """Objects from `kubectl get ... -o json` output (a List, or a JSON array of objects)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParameterError(param, '%s is not JSON (%s): give the output of kubectl get pods,services,'
                                    'networkpolicies -A -o json' % (source, exc))
    items = data.get('items') if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ParameterError(param, '%s has no "items" list: give the output of kubectl get pods,services,'
                                    'networkpolicies -A -o json' % source)
    return Objects(items, source)


def load(path, param='k8s_objects'):
    """Objects from a file; ParameterError naming param when it cannot be read or is not such output."""
    try:
        with open(path, 'rb') as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ParameterError(param, 'cannot read %s: %s' % (path, exc.strerror or exc))
    if len(raw) > MAX_BYTES:
        raise ParameterError(param, '%s is larger than %d MiB' % (path, MAX_BYTES // 1024 // 1024))
    return parse(raw.decode('utf-8', 'replace'), path, param)
