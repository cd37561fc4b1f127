# Comity 仪表板 — 中文。

## 框架
nav-label = 主菜单
nav-consultations = 磋商
nav-liaisons = 联络声明
nav-federation = 联盟
language-menu = 语言
login = 登录
logout = 退出
footer = { $org } 的 Comity 节点 · 版本 { $version }
back-home = 返回磋商列表

## 语言
language-ar = 阿拉伯文
language-en = 英文
language-es = 西班牙文
language-fr = 法文
language-ru = 俄文
language-zh = 中文
doc-fallback = 没有您所用语言的版本：以发布时的语言（{ $language }）显示。

## 角色
role-viewer = 查看者
role-editor = 编辑者
role-approver = 审批者
role-liaison-manager = 联络管理员
role-admin = 管理员

## 登录
login-title = 登录
login-username = 账户名
login-password = 密码
login-failed = 账户名或密码错误。
login-too-many = 失败次数过多。请等待几分钟后再试。

## 错误
error-title = 出现错误
error-title-not-found = 未找到
error-title-forbidden = 不允许
error-title-bad-request = 无法按所填内容执行
error-title-conflict = 目前无法执行
error-csrf = 此表单已过期或并非来自本网站。请返回，刷新页面后重试。
error-form = 无法读取表单：{ $detail }
error-role = 此操作需要“{ $role }”或更高的角色。
error-login-needed = 请登录后查看。
error-not-found = 此地址下没有任何内容。
error-not-own = 此处只能修订本组织自己的磋商。

## 常用词
yes = 是
no = 否
none = 暂无。
untitled = （无标题）
restricted = 受限
restricted-note = 此声明仅限其他组织查看：此处只保存其已签名的标头。
overdue = 已逾期
late = 逾期提交
cc = 抄送
unchanged = （不变）
this-node = 本节点

## 表格列
col-organisation = 组织
col-stakeholder-group = 利益攸关方群体
col-region = 地区
col-reciprocal = 互相关注
col-connected = 已连接
col-dialled = 发起连接方
dialled-us = 本方
dialled-them = 对方（仅外拨）
dialled-both = 双方
dialled-none = —
reach-reachable = 可达
reach-dial-out-only = 仅外拨
reach-unconfirmed = 正在监听；尚无伙伴接入
col-lag = 延迟
col-last-error = 最近错误
col-checkpoint = 检查点
checkpoint-none = 尚无
checkpoint-size = 大小 {$size}
checkpoint-cosigned = {$org} 联署，
col-title = 标题
col-topics = 主题
col-closes = 截止
col-status = 状态
col-responses = 回复数
col-response = 回复
col-revision = 修订版
col-published = 发布时间
col-entry = 条目
col-from = 发件方
col-to = 收件方
col-purpose = 目的
col-deadline = 期限
col-state = 处理状态

## 联盟
federation-title = 联盟
federation-intro = 本节点关注的所有组织（按其签名档案所述），以及与每个组织的复制状态。
lag-none = 已同步
lag-entries = { $origin }：落后 { $count } 个条目
last-contact = 最近联系：

## 利益攸关方群体
sg-government = 政府
sg-intergovernmental = 政府间组织
sg-private-sector = 私营部门
sg-civil-society = 民间社会
sg-technical-academic = 技术和学术界
sg-unspecified = 未说明

## 磋商状态
status-draft = 草稿
status-upcoming = 尚未开放
status-open = 开放中
status-reply_period = 答复期
status-closed = 已结束
status-withdrawn = 已撤回
status-report_published = 报告已发布

## 磋商
consultations-title = 磋商
consultations-none = 没有符合这些筛选条件的磋商。
consultation-new = 发布磋商
filter-org = 组织
filter-topic = 主题
filter-language = 文件语言
filter-status = 状态
filter-any = 任意
filter-all = 全部
filter-apply = 筛选
field-title = 标题
field-language = 语言
field-summary = 摘要
field-opens = 开始
field-closes = 截止
field-reply-closes = 答复期截止
field-topics = 主题（以逗号分隔）
field-body = 正文
field-link = 网页
field-questions = 指导性问题（每行一个）
field-contact = 联系人
field-contact-name = 联系人姓名
field-contact-email = 联系人电子邮件
field-on-behalf-of = 代表
field-note = 备注
field-identifiers = 其他文件编号
field-restricted = 受限：只有收件方能收到正文
dates-note = 日期按“地球上任何地方”理解：在某日截止的磋商，要到该日在全球各地都结束后才关闭。
publish = 发布
attachments = 附件
report = 总结报告
revisions = 修订历史
responses = 回复
participation = 参与情况
respond = 回复
revise = 修订
revise-note = 字段留空即保持不变。每次修订都是一个新的签名条目；之前的条目保留在日志中。

## 联络声明
liaisons-title = 联络声明
liaison-new = 起草联络声明
tab-inbox = 收件箱
tab-outbox = 发件箱
tab-awaiting = 待处理
tab-overdue = 已逾期
tab-drafts = 草稿
purpose-action = 请采取行动
purpose-comment = 请提意见
purpose-information = 供参考
purpose-in_response = 答复
purpose-unspecified = 未说明
state-awaiting = 等待中
state-received = 已收到
state-accepted_for_action = 已受理
state-reply_coming = 即将答复
state-action_taken = 已采取行动
draft-draft = 草稿
draft-approved = 已由 { $by } 批准
draft-posted = 已发送（条目 { $seq }）
draft-save = 保存为草稿
approve = 批准
post = 发送
recipients-note = 填写组织（“icann”）、其下属小组（“itu/itu-t/sg17”）或合作方档案中列出的小组；多个以逗号分隔。
recipients-own-note = 如需为某一收件方单独指定目的和截止日期，请在“=”后填写：“itu=action:2027-03-31”、“icann=information”。
recipients = 收件方
receipts = 回执
replies = 答复
in-reply-to = 答复
acknowledge = 确认收到
reply = 答复
reply-note = 答复将保存为草稿，收件方为原发件方；可在“草稿”标签页中发送。
receipt-by-reply = 通过答复
reply-action-note = 答复发送后，本声明对 { $org } 即标为“已采取行动”，并链接该答复。

## Search
search-label = 搜索本节点保存的文件
search-placeholder = 搜索…
search-submit = 搜索
search-title = 搜索
search-count = 找到 { $count } 份与“{ $query }”相关的文件
search-none = 没有您可阅读的文件包含这些词语。
search-empty = 在搜索框中输入词语：所有来源、任何语言的咨询、答复和联络声明。
search-kind-consultation = 咨询
search-kind-response = 答复
search-kind-liaison = 联络声明

## Times and dates
time-now = 刚刚
time-ago-minutes = { $n }分钟前
time-ago-hours = { $n }小时前
time-ago-days = { $n }天前
time-ago-months = { $n }个月前
time-ago-years = { $n }年前
time-in-minutes = { $n }分钟后
time-in-hours = { $n }小时后
time-in-days = { $n }天后
time-in-months = { $n }个月后
time-in-years = { $n }年后
month-1 = 1
month-2 = 2
month-3 = 3
month-4 = 4
month-5 = 5
month-6 = 6
month-7 = 7
month-8 = 8
month-9 = 9
month-10 = 10
month-11 = 11
month-12 = 12
date-day = { $year }年{ $month }月{ $day }日
date-time = { $date } { $time } UTC

## Pages of a list
page-info = 第 { $page } 页，共 { $pages } 页（共 { $total } 项）
page-prev = 上一页
page-next = 下一页
