# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Name the Kubernetes object behind a rule, from what the rules themselves say. Pure.

kube-proxy's iptables mode names services in rule comments (``ns/svc:port cluster IP``, ``ns/svc:port ->
10.180.0.1:80``) and hashes them into chain names (KUBE-SVC-, KUBE-SEP-, ...): a chain is named from the comments
of its own rules and of the rules that jump to it, an endpoint from its DNAT. kube-proxy's nftables mode spells
the service in the chain name itself (``service-<hash>-ns/svc/proto/port``, ``endpoint-<hash>-...__addr/port``).
Calico's Felix names chains by role (``cali-pi-`` inbound policy, ``cali-tw-`` to a workload, ...), with the
policy's or interface's name after the prefix, or a hash of it when the name is too long.

Each name is a dict (report.json): ``owner`` (kube-proxy, calico), ``role``, ``label`` (the words the report
prints) and, where known, ``namespace``, ``name``, ``port``, ``protocol``, ``cluster_ip``, ``endpoint``,
``direction``, ``interface``, ``hashed``.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.netdebug.netfilter.plugins.module_utils._analysis.k8s_objects import HASH_MARK
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.iptables_save import (
    rule_comment as iptables_comment,
)
from ansible_collections.netdebug.netfilter.plugins.module_utils._netfilter.nft_list import rule_comment as nft_comment

KUBE_PROXY = 'kube-proxy'
CALICO = 'calico'

# kube-proxy, iptables mode: chains with one job each (pkg/proxy/iptables)
KUBE_FIXED = {
    'KUBE-SERVICES': ('services', 'kube-proxy service dispatch'),
    'KUBE-NODEPORTS': ('nodeports', 'kube-proxy NodePort dispatch'),
    'KUBE-EXTERNAL-SERVICES': ('external-services', 'kube-proxy external service checks'),
    'KUBE-FORWARD': ('forward', 'kube-proxy forwarding rules'),
    'KUBE-PROXY-FIREWALL': ('firewall', 'kube-proxy load-balancer source-range firewall'),
    'KUBE-FIREWALL': ('firewall', 'kubelet firewall (martian loopback traffic)'),
    'KUBE-MARK-MASQ': ('mark-masquerade', 'kube-proxy masquerade mark'),
    'KUBE-MARK-DROP': ('mark-drop', 'kube-proxy drop mark'),
    'KUBE-POSTROUTING': ('masquerade', 'kube-proxy masquerade'),
    'KUBE-PROXY-CANARY': ('canary', 'kube-proxy canary'),
    'KUBE-KUBELET-CANARY': ('canary', 'kubelet canary'),
}
# kube-proxy, iptables mode: chains per service or endpoint, named by a hash
KUBE_PER_SERVICE = (
    ('KUBE-SVC-', 'service', 'service'),
    ('KUBE-SVL-', 'service-local', 'service'),          # externalTrafficPolicy Local endpoints
    ('KUBE-EXT-', 'service-external', 'external traffic of service'),
    ('KUBE-XLB-', 'service-external', 'external traffic of service'),  # before Kubernetes 1.24
    ('KUBE-FW-', 'service-firewall', 'load-balancer firewall of service'),
    ('KUBE-SEP-', 'endpoint', 'endpoint'),
)
# kube-proxy, nftables mode (table "kube-proxy"): service-<hash>-ns/svc/proto/port[__addr/port]
_NFT_SERVICE = re.compile(r'^(?P<what>service|external|endpoint|firewall)-[A-Z0-9]{8}-(?P<ns>[^/]+)/(?P<name>[^/]+)/'
                          r'(?P<proto>[a-z]+)/(?P<port>[^/_]*)(?:__(?P<addr>.+)/(?P<epport>\d+))?$')
_NFT_ROLES = {'service': ('service', 'service'), 'external': ('service-external', 'external traffic of service'),
              'firewall': ('service-firewall', 'load-balancer firewall of service'),
              'endpoint': ('endpoint', 'endpoint')}
KUBE_PROXY_NFT_TABLE = 'kube-proxy'

# "ns/svc:port" in a kube-proxy comment (namespace and service are DNS labels; the port name may be empty)
_SERVICE_REF = re.compile(r'(?<![\w./-])(?P<ns>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)/(?P<name>[a-z0-9](?:[-a-z0-9.]*'
                          r'[a-z0-9])?)(?::(?P<port>[-a-z0-9]*))?(?![\w/])')
_CLUSTER_IP = re.compile(r'(?:^|\s)-d (\S+?)(?:/32|/128)?(?:\s|$)')
_TO_DESTINATION = re.compile(r'--to-destination (\S+)')

# Calico Felix (felix/rules/rule_defs.go): per-object chain prefixes, longest first:
# (prefix, role, the words before the object's name, direction, what follows the prefix)
CALICO_PREFIXES = (
    ('cali-thfw-', 'to-host-endpoint-forward', 'forwarded to host endpoint', None, 'interface'),
    ('cali-fhfw-', 'from-host-endpoint-forward', 'forwarded from host endpoint', None, 'interface'),
    ('cali-pri-', 'profile', 'profile', 'inbound', 'profile'),
    ('cali-pro-', 'profile', 'profile', 'outbound', 'profile'),
    ('cali-pi-', 'policy', 'policy', 'inbound', 'policy'),
    ('cali-po-', 'policy', 'policy', 'outbound', 'policy'),
    ('cali-gi-', 'policy-group', 'policy group', 'inbound', 'group'),
    ('cali-go-', 'policy-group', 'policy group', 'outbound', 'group'),
    ('cali-tw-', 'to-workload', 'to pod interface', None, 'interface'),
    ('cali-fw-', 'from-workload', 'from pod interface', None, 'interface'),
    ('cali-th-', 'to-host-endpoint', 'to host endpoint', None, 'interface'),
    ('cali-fh-', 'from-host-endpoint', 'from host endpoint', None, 'interface'),
    ('cali-sm-', 'endpoint-mark', 'endpoint mark of', None, 'interface'),
)
CALICO_FIXED = {
    'cali-INPUT': 'input hook', 'cali-OUTPUT': 'output hook', 'cali-FORWARD': 'forward hook',
    'cali-PREROUTING': 'prerouting hook', 'cali-POSTROUTING': 'postrouting hook',
    'cali-from-wl-dispatch': 'dispatch from pods', 'cali-to-wl-dispatch': 'dispatch to pods',
    'cali-wl-to-host': 'pod to host', 'cali-failsafe-in': 'failsafe inbound ports',
    'cali-failsafe-out': 'failsafe outbound ports', 'cali-nat-outgoing': 'NAT outgoing',
    'cali-fip-dnat': 'floating IP DNAT', 'cali-fip-snat': 'floating IP SNAT',
    'cali-from-host-endpoint': 'dispatch from host endpoints', 'cali-to-host-endpoint': 'dispatch to host endpoints',
    'cali-from-hep-forward': 'dispatch from host endpoints (forwarded)',
    'cali-to-hep-forward': 'dispatch to host endpoints (forwarded)',
    'cali-set-endpoint-mark': 'endpoint mark dispatch', 'cali-from-endpoint-mark': 'dispatch by endpoint mark',
    'cali-forward-check': 'forward check', 'cali-forward-endpoint-mark': 'forward endpoint mark',
    'cali-rpf-skip': 'reverse-path check exceptions', 'cali-cidr-block': 'blocked CIDRs',
    'cali-untracked-flows': 'untracked flows', 'cali-wireguard-incoming-mark': 'WireGuard incoming mark',
}
# Felix 3.30 and later: policy chains are named "<short kind>/[<namespace>/]<name>" (felix/types/policy_id.go)
CALICO_SHORT_KINDS = {
    'np': 'NetworkPolicy', 'gnp': 'GlobalNetworkPolicy', 'snp': 'StagedNetworkPolicy',
    'sgnp': 'StagedGlobalNetworkPolicy', 'sknp': 'StagedKubernetesNetworkPolicy', 'knp': 'KubernetesNetworkPolicy',
    'kcnp': 'KubernetesClusterNetworkPolicy',
}
# ... and write "<Kind> [<namespace>/]<name> ingress|egress" in a comment of the chain's rules (felix/rules/policy.go)
_POLICY_COMMENT = re.compile(r'(?:--comment |comment )"?(?P<kind>[A-Z][A-Za-z]*) (?:(?P<ns>[a-z0-9][-a-z0-9]*)/)?'
                             r'(?P<name>[^\s"/]+) (?:ingress|egress)"?')
# Calico's nftables mode prefixes each chain with its table's name ("filter-cali-pi-...") in table "calico"
_CALICO_NFT = re.compile(r'^(?:filter|nat|mangle|raw)-(cali-.*)$')


def _service_ref(comment):
    """{'namespace', 'name', 'port'} of the first 'ns/svc:port' in a kube-proxy comment, or None."""
    match = _SERVICE_REF.search(comment or '')
    if match is None:
        return None
    ref = {'namespace': match.group('ns'), 'name': match.group('name')}
    if match.group('port'):
        ref['port'] = match.group('port')
    return ref


def object_words(ref):
    """'ns1/svc1:p80' for a service port (no port name: 'ns1/svc1'); 'ns1/web-0' for a pod."""
    text = '%s/%s' % (ref['namespace'], ref['name'])
    return '%s:%s' % (text, ref['port']) if ref.get('port') else text


def rule_comment(text):
    """The comment of a rule in iptables or nft syntax, or None."""
    if not text:
        return None
    if ' -A ' in ' ' + text or text.startswith('-'):
        return iptables_comment(text)
    return nft_comment(text)


class Namer:
    """Names for the steps of one host, from its ruleset snapshot (resolve.Snapshot)."""

    def __init__(self, snapshot, objects=None):
        self.objects = objects  # k8s_objects.Objects the user gave, or None
        # (family, chain name) -> {'namespace', 'name', 'port', 'cluster_ip', 'endpoint'} (kube-proxy, iptables
        # mode): the same chain names hold both families' rules in a dual-stack cluster
        self.services = {}
        # Calico policy or profile chain -> {'kind', 'namespace', 'name'}, from the comment Felix puts in it
        self.policies = {}
        edges = []  # (per-service chain, per-service chain it jumps to): KUBE-SVC -> KUBE-SEP, KUBE-EXT -> KUBE-SVC
        for family, tables in list(snapshot.legacy.items()) + list(snapshot.xtables.items()):
            for table in tables.values():
                edges.extend((family, source, target) for source, target in self._index_table(family, table))
        # after every comment is read, whatever the order of the chains: a chain without comments (older
        # kube-proxy endpoints) serves the service of the chain that jumps to it
        for family, source, target in edges:
            self._learn(family, target, self.services.get((family, source)))

    def _learn(self, family, chain, ref, **extra):
        known = self.services.setdefault((family, chain), {})
        for key, value in dict(ref or {}, **extra).items():
            if value is not None:
                known.setdefault(key, value)

    def _index_table(self, family, table):
        edges = []
        for chain in table.chains.values():
            own = _per_service(chain.name)
            if chain.name.startswith(('cali-pi-', 'cali-po-', 'cali-pri-', 'cali-pro-')):
                self._index_policy_chain(chain)
            for rule in chain.rules:
                ref = _service_ref(rule.comment)
                target = rule.target or ''
                if own is not None and ref is not None:
                    self._learn(family, chain.name, ref)
                if own is not None and own[0] == 'endpoint' and target == 'DNAT':
                    found = _TO_DESTINATION.search(rule.text)
                    if found:
                        self._learn(family, chain.name, None, endpoint=found.group(1))
                if _per_service(target) is not None:
                    if ref is not None:
                        cluster = _CLUSTER_IP.search(' ' + rule.text) if 'cluster IP' in (rule.comment or '') else None
                        self._learn(family, target, ref, cluster_ip=cluster.group(1) if cluster else None)
                    if own is not None:
                        edges.append((chain.name, target))
        return edges

    def _index_policy_chain(self, chain):
        for rule in chain.rules:
            found = _POLICY_COMMENT.search(rule.text)
            if found:
                self.policies[chain.name] = {'kind': found.group('kind'), 'namespace': found.group('ns'),
                                             'name': found.group('name')}
                return

    def name(self, step):
        """The name dict of a resolved step (resolve.Resolver), or None for a rule of neither."""
        table, chain = step.get('table') or '', step.get('chain') or ''
        if table == KUBE_PROXY_NFT_TABLE:
            return self._kube_nft(chain, step)
        if chain.startswith('KUBE-'):
            return self._kube_iptables(chain, step)
        nft = _CALICO_NFT.match(chain) if table == 'calico' else None
        if chain.startswith('cali-') or nft:
            return self._calico(nft.group(1) if nft else chain)
        return None

    def _calico(self, chain):
        name = _calico(chain)
        pod = self.objects.pod_on(name['interface']) if self.objects and name.get('interface') else None
        if pod is not None and name['role'] in ('to-workload', 'from-workload'):
            name['pod'] = object_words(pod)
            name['label'] = '%s (pod %s)' % (name['label'], name['pod'])
        if 'hashed' in name:
            known = self.policies.get(chain) or (self.objects.policy(chain) if self.objects else None)
            if known:  # a hashed chain named by Felix's own comment, or by the objects the user gave
                name.update((key, value) for key, value in known.items() if value)
                name['label'] = _policy_label(name, name['direction']) if name['role'] == 'policy' else \
                    'Calico profile %s (%s)' % (name['name'], name['direction'])
        return name

    def _kube_iptables(self, chain, step):
        per_service = _per_service(chain)
        if per_service is None:
            role, label = KUBE_FIXED.get(chain, ('other', 'kube-proxy chain %s' % chain))
            return _named_by_comment({'owner': KUBE_PROXY, 'role': role, 'label': label}, step)
        role, words = per_service
        name = {'owner': KUBE_PROXY, 'role': role}
        name.update(self.services.get((step.get('family'), chain), {}))
        if role == 'endpoint' and name.get('endpoint'):
            words = 'endpoint %s of service' % self._endpoint_words(name)
        if 'namespace' in name:
            name['label'] = '%s %s' % (words, object_words(name))
        else:
            name['label'] = '%s (kube-proxy chain %s; no rule names it)' % (words, chain)
        return name

    def _endpoint_words(self, name):
        """'10.180.0.1:80', with its pod where the objects name one: '10.180.0.1:80 (pod ns1/web-0)'."""
        pod = self.objects.pod(name['endpoint']) if self.objects else None
        if pod is None:
            return name['endpoint']
        name['pod'] = object_words(pod)
        return '%s (pod %s)' % (name['endpoint'], name['pod'])

    def _kube_nft(self, chain, step):
        match = _NFT_SERVICE.match(chain)
        if match is None:
            return _named_by_comment({'owner': KUBE_PROXY, 'role': chain, 'label': 'kube-proxy %s' % chain}, step)
        role, words = _NFT_ROLES[match.group('what')]
        name = {'owner': KUBE_PROXY, 'role': role, 'namespace': match.group('ns'), 'name': match.group('name'),
                'protocol': match.group('proto')}
        if match.group('port'):
            name['port'] = match.group('port')
        if match.group('addr'):
            addr = _nft_chain_address(match.group('addr'))
            name['endpoint'] = '%s:%s' % ('[%s]' % addr if ':' in addr else addr, match.group('epport'))
            words = 'endpoint %s of service' % self._endpoint_words(name)
        name['label'] = '%s %s' % (words, object_words(name))
        return name


def _named_by_comment(name, step):
    """A fixed kube-proxy chain's name, with the service its rule's comment names ("ns/svc:port has no
    endpoints")."""
    ref = _service_ref(rule_comment(step.get('rule')))
    if ref is not None:
        name.update(ref)
        name['label'] = '%s, service %s' % (name['label'], object_words(ref))
    return name


def _nft_chain_address(text):
    """An endpoint address as kube-proxy's nftables mode spells it in a chain name: IPv6 with '.' for ':' (a ':'
    is not allowed there), IPv4 as it is."""
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        pass
    try:
        return str(ipaddress.IPv6Address(text.replace('.', ':')))
    except ValueError:
        return text


def _per_service(chain):
    """(role, words) of a kube-proxy per-service chain name, or None."""
    for prefix, role, words in KUBE_PER_SERVICE:
        if chain.startswith(prefix):
            return role, words
    return None


def _calico(chain):
    fixed = CALICO_FIXED.get(chain)
    if fixed is None and chain.startswith(('cali-from-wl-dispatch-', 'cali-to-wl-dispatch-')):
        fixed = CALICO_FIXED.get(chain.rsplit('-', 1)[0])  # Felix splits a long dispatch chain: -0, -a, ...
    if fixed is not None:
        return {'owner': CALICO, 'role': chain[len('cali-'):], 'label': 'Calico %s' % fixed}
    for prefix, role, words, direction, what in CALICO_PREFIXES:
        if chain.startswith(prefix):
            return _calico_object(chain[len(prefix):], role, words, direction, what)
    return {'owner': CALICO, 'role': 'other', 'label': 'Calico chain %s' % chain}


def _calico_object(rest, role, words, direction, what):
    name = {'owner': CALICO, 'role': role}
    if direction:
        name['direction'] = direction
    if what == 'interface':
        name['interface'] = rest
        name['label'] = 'Calico %s %s' % (words, rest)
        return name
    if rest.startswith(HASH_MARK):  # Felix hashed a name too long for a chain
        name['hashed'] = rest
        name['label'] = 'Calico %s (hashed name %s) (%s)' % (words, rest, direction)
        return name
    if what == 'policy':
        kind, namespace, object_name = _calico_policy_name(rest)
        name.update(kind=kind, name=object_name)
        if namespace:
            name['namespace'] = namespace
        name['label'] = _policy_label(name, direction)
        return name
    if what == 'profile':
        kind, object_name = _calico_profile_name(rest)
        name.update(kind=kind, name=object_name)
        rest = object_name
    name['label'] = 'Calico %s %s (%s)' % (words, rest, direction)
    return name


def _policy_label(name, direction):
    """'Calico policy ns1/deny-web (inbound)'; cluster-wide kinds: 'Calico global policy allow-dns (outbound)'."""
    if name.get('namespace'):
        return 'Calico policy %s/%s (%s)' % (name['namespace'], name['name'], direction)
    return 'Calico global policy %s (%s)' % (name['name'], direction)


def _calico_policy_name(rest):
    """(kind, namespace, name) of a policy named in its chain (the part after the prefix). Felix 3.30 and later:
    "<short kind>/[<namespace>/]<name>"; earlier "[<tier>/][<namespace>/]<name>" with Kubernetes policies named
    "knp.default.<name>"."""
    parts = rest.split('/')
    if parts[0] in CALICO_SHORT_KINDS and len(parts) in (2, 3):
        return CALICO_SHORT_KINDS[parts[0]], parts[1] if len(parts) == 3 else None, parts[-1]
    namespace = parts[-2] if len(parts) >= 2 else None
    if parts[-1].startswith('knp.default.'):
        return 'KubernetesNetworkPolicy', namespace, parts[-1][len('knp.default.'):]
    return ('NetworkPolicy' if namespace else 'GlobalNetworkPolicy'), namespace, parts[-1]


def _calico_profile_name(rest):
    """(kind, name) of a profile: a namespace's ("kns.<namespace>"), a service account's ("ksa.<namespace>.
    <name>"), or one of Calico's own."""
    if rest.startswith('kns.'):
        return 'Namespace', rest[len('kns.'):]
    if rest.startswith('ksa.'):
        return 'ServiceAccount', rest[len('ksa.'):]
    return 'Profile', rest
