// Package vip is what a VRRP master does to the host and the wire: it adds
// and removes virtual IP addresses through netlink, announces them with
// gratuitous ARP and unsolicited neighbour advertisements, joins the VRRP
// multicast groups so the NIC accepts adverts, picks advert source addresses
// and sends adverts on AF_PACKET with an Ethernet frame built here, so that
// netfilter's OUTPUT chain cannot drop them.
//
// Every function that opens a socket or netlink handle does so in the network
// namespace of the calling OS thread; file descriptors keep that namespace
// afterwards, so objects may be created under netns.Set and used from any
// goroutine.
//
// The VRRP payload itself is produced elsewhere (control/advert); this
// package never parses it.
package vip
