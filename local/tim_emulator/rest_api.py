"""Every REST API the emulator serves: its path (``v4/<service>/<command>``, docs/protocol.md §4.1)
and the function that carries it out. A path not in the table is answered 60002 (codes.URL_INVALID).

Each function takes the service's state, the request body and the caller, and returns a
:class:`~local.tim_emulator.core.Reply` or raises :class:`~local.tim_emulator.codes.ImError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from local.tim_emulator import accounts, c2c, friends, group_messages, groups, history
from local.tim_emulator.core import Caller, Reply, Service

Handler = Callable[[Service, dict[str, Any], Caller], Reply]

REST_API: dict[str, Handler] = {
    # accounts and robots
    "v4/im_open_login_svc/account_import": accounts.account_import,
    "v4/im_open_login_svc/multiaccount_import": accounts.multiaccount_import,
    "v4/openim_robot_http_svc/create_robot": accounts.create_robot,
    "v4/openim_robot_http_svc/delete_robot": accounts.delete_robot,
    "v4/openim_robot_http_svc/get_all_robots": accounts.get_all_robots,
    # friends
    "v4/sns/friend_add": friends.friend_add,
    "v4/sns/friend_check": friends.friend_check,
    # one-to-one messages
    "v4/openim/sendmsg": c2c.sendmsg,
    "v4/openim/batchsendmsg": c2c.batchsendmsg,
    "v4/openim/modify_c2c_msg": c2c.modify_c2c_msg,
    "v4/stream_msg/send_c2c_stream_msg": c2c.send_c2c_stream_msg,
    # groups
    "v4/group_open_http_svc/create_group": groups.create_group,
    "v4/group_open_http_svc/get_group_info": groups.get_group_info,
    "v4/group_open_http_svc/modify_group_base_info": groups.modify_group_base_info,
    "v4/group_open_http_svc/destroy_group": groups.destroy_group,
    "v4/group_open_http_svc/add_group_member": groups.add_group_member,
    "v4/group_open_http_svc/delete_group_member": groups.delete_group_member,
    "v4/group_open_http_svc/get_appid_group_list": groups.get_appid_group_list,
    "v4/group_open_http_svc/get_group_member_info": groups.get_group_member_info,
    "v4/group_open_http_svc/get_role_in_group": groups.get_role_in_group,
    # group messages
    "v4/group_open_http_svc/send_group_msg": group_messages.send_group_msg,
    "v4/openim/modify_group_msg": group_messages.modify_group_msg,
    "v4/stream_msg/send_group_stream_msg": group_messages.send_group_stream_msg,
    # history, recall and read receipts
    "v4/group_open_http_svc/group_msg_recall": history.group_msg_recall,
    "v4/group_open_http_svc/group_msg_get_simple": history.group_msg_get_simple,
    "v4/group_open_http_svc/group_msg_receipt": history.group_msg_receipt,
    "v4/group_open_http_svc/get_group_msg_receipt": history.get_group_msg_receipt,
    "v4/group_open_http_svc/get_group_msg_receipt_detail": history.get_group_msg_receipt_detail,
    "v4/openim/admin_getroammsg": history.admin_getroammsg,
    "v4/openim/admin_msgwithdraw": history.admin_msgwithdraw,
    "v4/openim/admin_set_msg_read": history.admin_set_msg_read,
}
